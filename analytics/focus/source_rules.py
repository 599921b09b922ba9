"""FOCUS rules that a provider's own data breaks, found after conversion and reported, not hidden.

A FOCUS input (or the provider values a native export carries through) may break a FOCUS 1.2
rule that the converter has no right to repair: a ServiceName filed under two
ServiceCategory values, a marketplace charge billed by its provider although a third party
issued the invoice, a category that is not one of the allowed values. The converted rows keep
the provider's values; each broken rule becomes one ``source-rule`` Notice whose message
starts with the rule's id as the FOCUS validator names it (``ServiceName-C-005-C: ...``), then
says which rows break it (how many, and up to two ``x_SourceLineId`` examples).

The file's converted rows are scanned once, grouped by the dozen columns the rules read; the
rules then run as aggregate queries over those few groups.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from analytics.focus.errors import NormalisationError, Notice
from analytics.focus.formats.base import literal
from analytics.focus.normalise import SourceFile
from analytics.focus.schema import ALLOWED_VALUES, SERVICE_SUBCATEGORIES, allowed_subcategories

CODE = "source-rule"
#: a FOCUS validator rule id, e.g. ``ServiceName-C-005-C``, at the start of a notice: the rest
#: of the message quotes the provider's values, which must not name (and so excuse) a rule
RULE_ID = re.compile(r"^([A-Za-z]+-[CD]-\d{3}-[MOC]):")


@dataclass(frozen=True)
class RowRule:
    """A rule each row passes or breaks on its own: ``broken`` is a SQL condition on one row."""

    rule: str
    broken: str
    what: str
    shown: str = "NULL"  # a column whose breaking values the warning quotes


# The validator's ids for "MUST be one of the allowed values" (ChargeClass has none).
_ALLOWED_VALUE_RULES = {
    "ChargeCategory": "ChargeCategory-C-003-M",
    "ChargeFrequency": "ChargeFrequency-C-003-M",
    "PricingCategory": "PricingCategory-C-007-M",
    "CommitmentDiscountCategory": "CommitmentDiscountCategory-C-005-M",
    "CommitmentDiscountStatus": "CommitmentDiscountStatus-C-005-M",
    "CapacityReservationStatus": "CapacityReservationStatus-C-006-M",
    "ServiceCategory": "ServiceCategory-C-003-M",
    "ServiceSubcategory": "ServiceSubcategory-C-003-M",
}


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(literal(v) for v in values) + ")"


def _subcategory_of_another_category() -> str:
    pairs = _in(f"{category}|{sub}" for category in SERVICE_SUBCATEGORIES for sub in allowed_subcategories(category))
    return (
        f"ServiceSubcategory IN {_in(ALLOWED_VALUES['ServiceSubcategory'])} "
        f"AND ServiceCategory IN {_in(ALLOWED_VALUES['ServiceCategory'])} "
        f"AND ServiceCategory || '|' || ServiceSubcategory NOT IN {pairs}"
    )


ROW_RULES: tuple[RowRule, ...] = (
    RowRule(
        "BilledCost-C-005-C",
        "ProviderName IS DISTINCT FROM InvoiceIssuerName AND billed_not_zero",
        "a non-zero BilledCost although InvoiceIssuerName is not ProviderName (FOCUS: a charge whose "
        "payment a third party such as a marketplace receives is billed at 0 by the provider)",
    ),
    RowRule(
        "EffectiveCost-C-005-C",
        "ChargeCategory = 'Purchase' AND effective_not_zero",
        "a Purchase with a non-zero EffectiveCost (FOCUS: 0 for a purchase that covers future charges, "
        "which are amortised instead; the validator checks every Purchase)",
    ),
    *(
        RowRule(
            rule,
            f"{column} IS NOT NULL AND {column} NOT IN {_in(ALLOWED_VALUES[column])}",
            f"a {column} that is not one of FOCUS 1.2's allowed values",
            column,
        )
        for column, rule in _ALLOWED_VALUE_RULES.items()
    ),
    RowRule(
        "ServiceSubcategory-C-004-M",
        _subcategory_of_another_category(),
        "a ServiceSubcategory whose parent is another ServiceCategory",
        "ServiceCategory || ' / ' || ServiceSubcategory",
    ),
)

# ServiceName -> one ServiceCategory (MUST) and one ServiceSubcategory (SHOULD)
SERVICE_RULES = {"ServiceCategory": "ServiceName-C-005-C", "ServiceSubcategory": "ServiceName-C-008-C"}


def rules_named(notices: Iterable[Notice]) -> set[str]:
    """The FOCUS rule ids the ``source-rule`` notices name."""
    return {match.group(1) for n in notices if n.code == CODE and (match := RULE_ID.match(n.message))}


def excused(notices: Iterable[Notice]) -> dict[str, str]:
    """The rules the ``source-rule`` notices name, each with why a validator's failure of it is
    explained (``wedcloud.focus_validator.run(..., excused=)``)."""
    return dict.fromkeys(rules_named(notices), "the provider's data breaks it; the converter's warning names it")


def check(con: duckdb.DuckDBPyConnection, source: SourceFile, **scope: object) -> list[Notice]:
    """The source rules the rows of ``focus_costs`` converted from ``source`` break; ``scope``
    narrows the rows further (column = value), e.g. to one source and month of the warehouse.
    The same scan refuses the file (NormalisationError) when a row has no charge period: its
    dates could not be read, and a charge with no time belongs to no day, month or budget."""
    filters = {"x_SourceFile": str(source.path), **scope}
    where = " AND ".join(f'"{column}" = ?' for column in filters)
    params = list(filters.values())
    file = str(source.path)
    notices = []
    # A FOCUS input carries the provider's values in every column the rules read. A native
    # export's categories, charge classes and issuers come from WedCloud's own mapping (its
    # tests hold them to the allowed values), so only ServiceName, the provider's own name for
    # a service, can break a rule there: the scan then reads three columns, not thirteen.
    focus_input = getattr(source.format, "carries_focus_values", False)
    grouped = _GROUPED if focus_input else _SERVICE_COLUMNS
    costs = "BilledCost <> 0 AS billed_not_zero, EffectiveCost <> 0 AS effective_not_zero, " if focus_input else ""
    # One scan of the file's rows, grouped by the few columns the rules read (costs only by
    # whether they are zero: sign() of a DECIMAL(38,18) cost more than the rest of the scan);
    # the rules then run on that handful of groups, not on every row.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_GROUPS} AS SELECT {', '.join(grouped)}, {costs}"
        "(ChargePeriodStart IS NULL OR ChargePeriodEnd IS NULL) AS no_period, count(*) AS line_count, "
        f"min(x_SourceLineId) AS first_line, max(x_SourceLineId) AS last_line FROM focus_costs WHERE {where} "
        "GROUP BY ALL",
        params,
    )
    try:
        undated, first = con.execute(
            f"SELECT sum(line_count), min(first_line) FROM {_GROUPS} WHERE no_period"
        ).fetchall()[0]
        if undated:
            raise NormalisationError(
                file,
                None,
                f"{undated} row(s) have no charge period (their dates cannot be read), e.g. x_SourceLineId {first}",
            )
        if focus_input:
            notices += _row_rules(con, file)
        notices += _service_rules(con, file)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_GROUPS}")
    return notices


_GROUPS = "source_rule_groups"
_SERVICE_COLUMNS = ("ServiceName", "ServiceCategory", "ServiceSubcategory")
_GROUPED = (
    "ProviderName", "InvoiceIssuerName", "ChargeCategory", "ChargeFrequency", "PricingCategory",
    "CommitmentDiscountCategory", "CommitmentDiscountStatus", "CapacityReservationStatus",
    "ServiceName", "ServiceCategory", "ServiceSubcategory",
)  # fmt: skip


def _row_rules(con: duckdb.DuckDBPyConnection, file: str) -> list[Notice]:
    notices = []
    aggregates = ", ".join(
        f"sum(line_count) FILTER (WHERE {r.broken}), min(first_line) FILTER (WHERE {r.broken}), "
        f"max(last_line) FILTER (WHERE {r.broken}), min({r.shown}) FILTER (WHERE {r.broken}), "
        f"max({r.shown}) FILTER (WHERE {r.broken})"
        for r in ROW_RULES
    )
    found = con.execute(f"SELECT {aggregates} FROM {_GROUPS}").fetchall()[0]
    for i, rule in enumerate(ROW_RULES):
        count, first, last, low, high = found[5 * i : 5 * i + 5]
        if count:
            examples = ", ".join(dict.fromkeys(str(x) for x in (first, last)))
            values = f" ({', '.join(dict.fromkeys(repr(v) for v in (low, high)))})" if low is not None else ""
            notices.append(
                Notice(
                    file,
                    CODE,
                    f"{rule.rule}: {count} row(s) have {rule.what}{values}; kept as the "
                    f"provider wrote them (x_SourceLineId e.g. {examples})",
                    int(count),
                )
            )
    return notices


def _service_rules(con: duckdb.DuckDBPyConnection, file: str) -> list[Notice]:
    notices = []
    for column, rule_id in SERVICE_RULES.items():
        groups = con.execute(
            f"SELECT ServiceName, string_agg(DISTINCT {column}, ', ' ORDER BY {column}), sum(line_count), "
            f"min(first_line), max(last_line) FROM {_GROUPS} WHERE ServiceName IS NOT NULL "
            f"GROUP BY ServiceName HAVING count(DISTINCT {column}) > 1 ORDER BY ServiceName"
        ).fetchall()
        if groups:
            count = sum(g[2] for g in groups)
            names = "; ".join(
                f"{g[0]!r} has {g[1]} ({g[2]} rows, x_SourceLineId e.g. {g[3]}, {g[4]})" for g in groups[:3]
            )
            more = f"; and {len(groups) - 3} more" if len(groups) > 3 else ""
            notices.append(
                Notice(
                    file,
                    CODE,
                    f"{rule_id}: {len(groups)} ServiceName(s) have more than one {column}, "
                    f"on {count} row(s): {names}{more}; kept as the provider wrote them",
                    int(count),
                )
            )
    return notices
