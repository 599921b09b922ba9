"""The audit log: /api/cloud/audit (admins only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from control_api.deps import RequireAdmin, SessionDep
from control_plane.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from control_plane.services import audit_log

router = APIRouter(prefix="/audit", tags=["audit"], dependencies=[RequireAdmin])


class AuditOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "seq": 42,
                    "occurred_at": "2026-11-27T09:00:00Z",
                    "actor": "key:ops:5d0c1bd6-0e77-4b4f-9a8e-6f1f0c3f2a10",
                    "role": "admin",
                    "method": "POST",
                    "path": "/api/cloud/providers",
                    "action": "create_provider",
                    "target": "provider:0b6f6f0e-8d0f-4a53-9d55-2a7b7d1f1c11",
                    "outcome": "success",
                    "status_code": 201,
                    "request_id": "4f1c2b9e8d7a6b5c4d3e2f1a0b9c8d7e",
                    "client": "203.0.113.7",
                    "detail": {"after": {"name": "aws-prod"}},
                    "count": 1,
                    "prev_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "row_hash": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
                }
            ]
        },
    )

    seq: int = Field(description="The row's place in the hash chain.")
    occurred_at: datetime
    actor: str
    role: str | None
    method: str = Field(description="The HTTP method, TASK for an operation's end, CLI for the command line.")
    path: str
    action: str
    target: str | None
    outcome: str = Field(description="success, rejected, denied or error.")
    status_code: int
    request_id: str
    client: str | None
    detail: dict[str, Any]
    count: int = Field(description="How many requests the row stands for (refusals are counted per minute).")
    prev_hash: str
    row_hash: str


class VerificationOut(BaseModel):
    ok: bool
    rows: int
    head_seq: int
    head_hash: str
    problems: list[dict[str, Any]] = Field(description="Each row that does not follow from the one before, and why.")


def _out(entry: Any) -> dict[str, Any]:
    view = {name: getattr(entry, name) for name in AuditOut.model_fields if name != "count"}
    view["count"] = int(entry.detail.get("count", 1)) if isinstance(entry.detail, dict) else 1
    return view


@router.get(
    "",
    response_model=Page[AuditOut],
    summary="Read the audit log, newest first",
    operation_id="list_audit",
)
def list_audit(
    session: SessionDep,
    actor: Annotated[
        str | None,
        Query(max_length=160, description="Only this actor's rows (key:<name>:<id>, anonymous, cli:<user>)."),
    ] = None,
    action: Annotated[
        str | None, Query(max_length=120, description="Only rows of this action (create_provider, api_key.revoke...).")
    ] = None,
    since: Annotated[AwareDatetime | None, Query(description="Rows at or after this time.")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Rows before this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page.")] = None,
) -> Any:
    page = audit_log.list_entries(
        session, actor=actor, action=action, since=since, until=until, limit=limit, cursor=cursor
    )
    return {"items": [_out(e) for e in page.items], "next_cursor": page.next_cursor}


@router.get(
    "/verify",
    response_model=VerificationOut,
    summary="Check the audit log's hash chain",
    operation_id="verify_audit",
)
def verify_audit(session: SessionDep) -> Any:
    result = audit_log.verify(session)
    return {"ok": result.ok, "rows": result.rows, "head_seq": result.head_seq, "head_hash": result.head_hash,
            "problems": result.problems}  # fmt: skip
