"""The embedded sandbox cloud: a deterministic, simulated AWS, Azure and Google Cloud estate
with two years of history, used on a fresh machine and in tests.

- ``catalog``: regions, sizes and list prices of each flavour;
- ``blueprint``: which resources exist and the planted problems;
- ``world``: blueprints made concrete (ids, lifecycle events), saved in the state store;
- ``demand`` and ``usage``: hourly demand, utilisation and the daily meter;
- ``exports``: the bills as each provider's native export files;
- ``provider``: the ``CloudProvider`` adapter over all of it.
"""
