"""Everything WedCloud knows about AWS: the adapter (``provider``) and the parts it composes, each
what it talks to (``api``, ``compute``, ``storage``, ``databases``, ``addresses``, ``metrics``),
its billing sources (``billing``), list prices (``prices``) and sessions (``credentials``)."""
