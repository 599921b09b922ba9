"""Cost anomalies, as the serving snapshot holds them, and the alerts they raise.

The anomaly asset writes ``cost_anomalies`` (explained, with every contributing resource, and
``covered_by`` a broader series' anomaly that already explains it). Each anomaly not covered
raises one alert, keyed by its stable id, so re-detecting it after the next refresh raises
nothing new. A resource the snapshot has no name for is named from the state store's
``resources`` (provisioned or synced, and kept after they are terminated), by its cloud id.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from analytics.money import format_amount
from analytics.overview import Queryable
from control_plane.store.models import Alert, Resource

COLUMNS = ("anomaly_id", "series", "value", "currency", "direction", "start", '"end"', "days", "actual", "expected",
           "impact", "peak_day", "peak_impact", "explanation", "covered_by")  # fmt: skip


@dataclass(frozen=True)
class Anomaly:
    anomaly_id: str
    series: str
    value: str | None
    currency: str
    direction: str
    start: date
    end: date
    days: int
    actual: Decimal
    expected: Decimal
    impact: Decimal
    peak_day: date
    peak_impact: Decimal
    explanation: dict[str, Any]
    covered_by: str | None

    @property
    def scope(self) -> str:
        return "total" if self.series == "total" else f"{self.series} {self.value}"

    @property
    def alert_key(self) -> str:
        return f"anomaly:{self.anomaly_id}"

    @property
    def resource_ids(self) -> list[str]:
        """Every resource id the explanation names (steps and contributing resources)."""
        steps = [*self.explanation.get("path", []), *self.explanation.get("others", [])]
        ids = [s["value"] for s in steps if s.get("dimension") == "ResourceId" and s.get("value")]
        return ids + [r["resource_id"] for r in self.explanation.get("resources", [])]

    def resources(self, names: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """The contributing resources, each named by the snapshot or else by ``names``."""
        return [{**r, "name": r.get("name") or (names or {}).get(r["resource_id"])}
                for r in self.explanation.get("resources", [])]  # fmt: skip

    def title(self, names: Mapping[str, str] | None = None) -> str:
        path = " > ".join(str(step["value"]) for step in self.explanation.get("path", []))
        days = f"{self.days} day{'s' if self.days != 1 else ''}"
        shown = [r["name"] or r["resource_id"] for r in self.resources(names)]
        listed = ", ".join(shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")
        return (
            f"Cost {self.direction} in {self.scope}: {format_amount(self.impact)} {self.currency} over {days} from "
            f"{self.start.isoformat()}" + (f", mostly {path}" if path else "") + (f" ({listed})" if listed else "")
        )


def has_anomalies(query: Queryable) -> bool:
    rows = query("SELECT count(*) FROM information_schema.tables WHERE table_name = 'cost_anomalies'", [])
    return bool(rows and rows[0][0])


def list_anomalies(query: Queryable, *, include_covered: bool = False) -> list[Anomaly]:
    """Newest first; those a broader anomaly explains only when asked for."""
    if not has_anomalies(query):
        return []
    where = "" if include_covered else "WHERE covered_by IS NULL"
    rows = query(f"SELECT {', '.join(COLUMNS)} FROM cost_anomalies {where} ORDER BY start DESC, anomaly_id", [])
    return [_anomaly(row) for row in rows]


def _anomaly(row: tuple[Any, ...]) -> Anomaly:
    values = dict(zip([c.strip('"') for c in COLUMNS], row, strict=True))
    for money in ("actual", "expected", "impact", "peak_impact"):
        values[money] = Decimal(str(round(values[money], 2)))
    values["explanation"] = json.loads(values["explanation"])
    return Anomaly(**values)


def resource_names(session: Session, ids: Iterable[str]) -> dict[str, str]:
    """Cloud id -> name of the resources the state store knows among ``ids``."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(select(Resource.cloud_id, Resource.name).where(Resource.cloud_id.in_(wanted)))
    return {str(cloud_id): str(name) for cloud_id, name in rows}


def raise_anomaly_alerts(session: Session, query: Queryable, snapshot_version: str) -> list[str]:
    """One alert per anomaly no broader one covers; the key makes it once ever."""
    raised = []
    for anomaly in list_anomalies(query):
        if session.scalar(select(Alert.id).where(Alert.key == anomaly.alert_key)) is not None:
            continue
        names = resource_names(session, anomaly.resource_ids)
        alert = Alert(
            kind="anomaly", key=anomaly.alert_key, title=anomaly.title(names)[:300],
            severity="warning" if anomaly.direction == "spike" else "info", status="no_targets",
            detail={"anomaly_id": anomaly.anomaly_id, "snapshot": snapshot_version, "scope": anomaly.scope,
                    "currency": anomaly.currency, "impact": format_amount(anomaly.impact),
                    "start": anomaly.start.isoformat(), "end": anomaly.end.isoformat(),
                    "explanation": anomaly.explanation, "resources": anomaly.resources(names)},
        )  # fmt: skip
        try:
            with session.begin_nested():
                session.add(alert)
        except IntegrityError:
            continue  # raised by a concurrent round
        raised.append(anomaly.alert_key)
    return raised


def alerts_by_key(session: Session, keys: list[str]) -> dict[str, Alert]:
    if not keys:
        return {}
    return {alert.key: alert for alert in session.scalars(select(Alert).where(Alert.key.in_(keys)))}
