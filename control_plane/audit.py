"""The audit trail's content: what a change records about itself, with secrets redacted.

The rows are written by the API (``control_api.request_context``): a successful change in the
same transaction as the change, a failed or refused request afterwards in a transaction of its
own. The table refuses UPDATE and DELETE in the database itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_SECRET_KEYS = re.compile(r"(secret|password|passphrase|token|credential|private|api[_-]?key)", re.I)
REDACTED = "***redacted***"


def redact(value: Any) -> Any:
    """A copy of ``value`` with every secret-looking key's value replaced."""
    if isinstance(value, dict):
        return {k: REDACTED if _SECRET_KEYS.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


@dataclass
class AuditTrail:
    """What a handler wants remembered about its request (target, before and after)."""

    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    written: bool = False

    def record(self, *, target: str | None = None, before: Any = None, after: Any = None, **extra: Any) -> None:
        if target is not None:
            self.target = target
        if before is not None:
            self.detail["before"] = redact(before)
        if after is not None:
            self.detail["after"] = redact(after)
        self.detail.update(redact(extra))
