"""Start bqemulator without network access to DuckDB's extension repository.

bqemulator loads DuckDB's spatial extension when it starts and gives up if the download
fails. The ``duckdb-extension-spatial`` wheel carries the extension for the pinned DuckDB, so
it is installed from that file first; ``INSTALL spatial`` is then already satisfied. Runs in
the emulator's own environment (see requirements.in); arguments go to ``bqemulator``.
"""

import sys
from pathlib import Path

import duckdb
import duckdb_extension_spatial

bundled = Path(duckdb_extension_spatial.__file__).parent / "extensions" / f"v{duckdb.__version__}"
extension = next(bundled.glob("spatial.duckdb_extension"), None)
if extension is None:
    sys.exit(f"no spatial extension for DuckDB {duckdb.__version__} in {bundled}")
duckdb.connect().execute(f"INSTALL '{extension}'")

from bqemulator.cli import main  # noqa: E402 - after the extension is in place

sys.exit(main())
