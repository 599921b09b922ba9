"""Reading and verifying the audit log: GET /api/cloud/audit and /audit/verify, and
`wedcloud audit verify`, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from control_plane.security import Role
from tests.control_api.conftest import Api
from wedcloud.cli.main import app as cli


def test_admins_read_the_log_newest_first_filtered_in_cursor_pages(api: Api) -> None:
    for _ in range(3):
        api.client.get("/api/cloud/operations")  # anonymous: one refusal row, then counted
    api.client.post("/api/cloud/providers", json={}, headers=api.headers(Role.VIEWER))  # 403
    assert api.client.get("/api/cloud/audit", headers=api.headers(Role.OPERATOR)).status_code == 403
    admin = api.headers(Role.ADMIN)
    first = api.client.get("/api/cloud/audit?limit=2", headers=admin).json()
    seqs = [row["seq"] for row in first["items"]]
    assert seqs == sorted(seqs, reverse=True)
    rest = api.client.get(f"/api/cloud/audit?limit=50&cursor={first['next_cursor']}", headers=admin).json()
    everything = first["items"] + rest["items"]
    assert rest["next_cursor"] is None
    assert [r["seq"] for r in everything] == list(range(len(everything), 0, -1))  # every row, once
    assert {"api_key.create", "GET /api/cloud/operations"} <= {r["action"] for r in everything}
    anonymous = api.client.get("/api/cloud/audit?actor=anonymous", headers=admin).json()["items"]
    assert [(r["status_code"], r["count"]) for r in anonymous] == [(401, 1)]  # the other two: when the minute ends
    forbidden = api.client.get("/api/cloud/audit?action=create_provider", headers=admin).json()["items"]
    assert [(r["outcome"], r["role"]) for r in forbidden] == [("denied", "viewer")]
    until = everything[0]["occurred_at"]
    window = api.client.get(
        "/api/cloud/audit", params={"since": everything[-1]["occurred_at"], "until": until}, headers=admin
    ).json()["items"]
    assert all(r["occurred_at"] < until for r in window)
    assert window
    naive = api.client.get("/api/cloud/audit?since=2026-01-01T00:00:00", headers=admin)
    assert naive.status_code == 422
    assert api.client.get("/api/cloud/audit?cursor=WzFd", headers=admin).status_code == 200  # [1]: nothing before
    assert api.client.get("/api/cloud/audit?cursor=WyJ4Il0", headers=admin).status_code == 422  # ["x"]


@pytest.mark.parametrize(
    "tamper",
    ["UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2", "DELETE FROM audit_log WHERE seq = 2"],
    ids=["changed", "deleted"],
)
def test_a_row_changed_or_deleted_with_direct_sql_is_found(
    api: Api, tamper: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = api.headers(Role.ADMIN)
    verdict = api.client.get("/api/cloud/audit/verify", headers=admin).json()
    assert (verdict["ok"], verdict["rows"]) == (True, 3)  # the fixture's three keys
    with api.engine.begin() as connection:  # someone with the database's owner role
        if api.engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER audit_log_no_update"))
            connection.execute(text("DROP TRIGGER audit_log_no_delete"))
        connection.execute(text(tamper))
    verdict = api.client.get("/api/cloud/audit/verify", headers=admin).json()
    kind = "changed" if tamper.startswith("UPDATE") else "deleted"
    assert verdict["ok"] is False
    assert [(p["problem"], p["seq"]) for p in verdict["problems"]] == [(kind, 2 if kind == "changed" else 3)]
    monkeypatch.setenv("WEDCLOUD_HOME", str(api.home))
    monkeypatch.setenv("WEDCLOUD_DATABASE_URL", api.engine.url.render_as_string(hide_password=False))
    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1
    assert kind in result.output
    assert "the audit chain is broken" in result.output
