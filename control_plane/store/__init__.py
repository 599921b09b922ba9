"""The state store: SQLAlchemy 2 models and Alembic migrations (SQLite or PostgreSQL)."""

# chains every audit row written through any session (a flush event)
from control_plane.store import audit_chain as _audit_chain  # noqa: F401
