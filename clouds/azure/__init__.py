"""Everything WedCloud knows about Azure: the adapter (``provider``), its billing sources
(``billing``), list prices (``prices``) and credentials (``credentials``)."""
