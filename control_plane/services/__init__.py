"""Domain logic the routers call: keyword-only functions, one transaction each, no FastAPI."""

# Every change a service makes to an operation's status or a resource's state is published on the
# stream in the same transaction: importing the module installs the session hooks that do it.
from control_plane.monitoring import changes as _changes  # noqa: F401
