"""The one-time re-keying of data written under providers' names (rekey_providers)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from control_plane.services import provider_keys
from control_plane.store.models import Provider, RecommendationRow
from pipelines.rekey import rekey_partitions


def test_data_keyed_by_a_providers_name_moves_to_its_id_once(engine: Engine, tmp_path: Path) -> None:
    with Session(engine, expire_on_commit=False) as session, session.begin():
        provider = Provider(kind="sandbox", name="sandbox-aws", settings={})
        session.add(provider)
        session.add(
            RecommendationRow(id="r1", provider="sandbox-aws", kind="idle", action="stop", resource_id="i-1",
                              monthly_saving=Decimal("1.50"), currency="USD", risk="low", outcome={})
        )  # fmt: skip
    key = str(provider.id)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE TABLE focus_costs (x_SourceId VARCHAR, n INT)")
        con.execute("CREATE TABLE inventory (provider VARCHAR, n INT)")
        con.execute("INSERT INTO focus_costs VALUES ('sandbox-aws', 1), ('sandbox-aws', 2), ('other', 3)")
        con.execute("INSERT INTO inventory VALUES ('sandbox-aws', 1)")
        with Session(engine) as session, session.begin():
            names = provider_keys.names_to_keys(session)
            assert provider_keys.rekey_recommendations(session, names) == 1
        assert provider_keys.rekey_warehouse(con, names) == {"focus_costs": 2, "inventory": 1}
        assert provider_keys.rekey_warehouse(con, names) == {"focus_costs": 0, "inventory": 0}  # idempotent
        rows = sorted(con.execute("SELECT x_SourceId, n FROM focus_costs").fetchall())
    assert rows == sorted([("other", 3), (key, 1), (key, 2)])
    with Session(engine) as session:
        assert session.scalars(select(RecommendationRow.provider)).all() == [key]
        assert provider_keys.find_provider(session, key) is not None
        assert provider_keys.key_of(session, "sandbox-aws") == key
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("billing_source", ["sandbox-aws", "unknown"])
        assert rekey_partitions(instance, names) == ["sandbox-aws"]
        assert sorted(instance.get_dynamic_partitions("billing_source")) == sorted([key, "unknown"])
        assert rekey_partitions(instance, names) == []
