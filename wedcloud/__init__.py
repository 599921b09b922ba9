"""WedCloud: multi-cloud control plane and FinOps analytics.

The ``wedcloud`` package holds what every part shares (the home folder layout, the
serving-snapshot protocol) and, in :mod:`wedcloud.cli`, the command line that drives the
other packages. Only ``wedcloud.cli`` imports ``control_api`` or ``pipelines``.
"""

__version__ = "0.1.0"
