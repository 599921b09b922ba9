"""Everything WedCloud knows about Google Cloud: the adapter (``provider``) and its parts
(``compute``, ``storage``, ``addresses``, ``metrics``, sharing ``api``), its billing sources and
the Cloud Billing API (``billing``), list prices (``prices``) and credentials (``credentials``)."""
