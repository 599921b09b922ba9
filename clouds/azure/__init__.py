"""Everything WedCloud knows about Azure: the adapter (``provider``) and its parts (``api``,
``compute``, ``storage``, ``addresses``, ``metrics``), its billing sources (``billing``), list
prices (``prices``) and credentials (``credentials``)."""
