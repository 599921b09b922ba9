"""Dagster definitions: resources, partitions, jobs and the ``Definitions`` object."""

import warnings

import dagster as dg

# Two features we rely on knowingly (see DEVELOPERS.md): single-run backfills of partitioned
# assets (beta) and partitioned asset checks (preview). Their warnings would otherwise print on
# every load of this code location.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*")
