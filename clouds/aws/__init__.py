"""Everything WedCloud knows about AWS: the adapter (``provider``), its billing sources
(``billing``), list prices (``prices``) and sessions (``credentials``)."""
