"""Everything WedCloud knows about Google Cloud: the adapter (``provider``), its billing
sources and the Cloud Billing API (``billing``), list prices (``prices``) and credentials
(``credentials``)."""
