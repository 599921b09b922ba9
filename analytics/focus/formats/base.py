"""What every billing format provides, and the SQL helpers they share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from analytics.focus.schema import MONEY, QUANTITY

__all__ = ["MONEY", "QUANTITY"]


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class SourceInfo:
    """A billing file as read: its path, a DuckDB expression reading it, and its columns."""

    path: Path
    relation: str
    columns: tuple[str, ...]
    types: Mapping[str, str] = field(default_factory=dict)

    def find(self, *names: str) -> str | None:
        """The file's own spelling of the first of ``names`` it has (case-insensitive)."""
        lowered = {c.lower(): c for c in self.columns}
        for name in names:
            if name.lower() in lowered:
                return lowered[name.lower()]
        return None

    def has(self, *names: str) -> bool:
        return self.find(*names) is not None

    def col(self, *names: str, default: str = "NULL") -> str:
        """A quoted reference to the first of ``names`` present, else ``default`` (SQL)."""
        found = self.find(*names)
        return quote(found) if found else default

    def type_of(self, name: str) -> str:
        return self.types.get(name, "VARCHAR")


@dataclass(frozen=True)
class Requirement:
    """A column the format cannot do without, under any of its known names."""

    canonical: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class UnitMap:
    """Provider unit strings -> (FOCUS unit, block size), for the units a file contains."""

    units: Mapping[str, tuple[str | None, Decimal]]

    def unit_sql(self, expr: str, *, with_block: bool = True) -> str:
        """CASE expression giving the FOCUS unit (with its block size, for PricingUnit)."""
        from analytics.focus.units import pricing_unit_label

        if not self.units:
            return "NULL::VARCHAR"
        whens = []
        for raw, (unit, block) in sorted(self.units.items()):
            label = pricing_unit_label(unit, block) if with_block else unit
            whens.append(f"WHEN {literal(raw)} THEN {literal(label) if label else 'NULL'}")
        return f"(CASE {expr} {' '.join(whens)} ELSE NULL END)"

    def block_sql(self, expr: str) -> str:
        """CASE expression giving the block size of a unit (1 when it has none)."""
        return self._factor_sql(expr, {raw: block for raw, (_, block) in self.units.items()})

    def fold_sql(self, expr: str) -> str:
        """CASE expression giving the factor a pricing quantity is multiplied by, and unit
        prices divided by, so that PricingUnit is the bare unit (see ``pricing_unit_sql``)."""
        from analytics.focus.units import MappedUnit

        return self._factor_sql(
            expr, {raw: MappedUnit(unit, block).fold for raw, (unit, block) in self.units.items() if unit}
        )

    def unfold_sql(self, expr: str) -> str:
        """CASE expression giving 1/fold as an exact decimal literal, to multiply unit prices by:
        DuckDB divides decimals through DOUBLE (0.081579474 / 10 gives ...4000001). A fold of
        2^a 5^b has an exact reciprocal; any other is rounded to 12 decimals."""
        from analytics.focus.units import MappedUnit

        whens = []
        for raw, (unit, block) in sorted(self.units.items()):
            fold = MappedUnit(unit, block).fold if unit else Decimal(1)
            if fold != 1:
                exact = MappedUnit(unit or "", fold).foldable
                inverse = 1 / fold if exact else (1 / fold).quantize(Decimal("1e-12"))
                whens.append(f"WHEN {literal(raw)} THEN {inverse.normalize():f}")
        return f"(CASE {expr} {' '.join(whens)} ELSE 1 END)" if whens else "1"

    def pricing_unit_sql(self, expr: str) -> str:
        """CASE expression giving PricingUnit for a quantity scaled by ``fold_sql``: the bare
        unit, or a whole-number block prefix where the block does not divide prices exactly."""
        from analytics.focus.units import MappedUnit

        if not self.units:
            return "NULL::VARCHAR"
        whens = [
            f"WHEN {literal(raw)} THEN {literal(MappedUnit(unit, block).pricing_unit) if unit else 'NULL'}"
            for raw, (unit, block) in sorted(self.units.items())
        ]
        return f"(CASE {expr} {' '.join(whens)} ELSE NULL END)"

    @staticmethod
    def _factor_sql(expr: str, factors: Mapping[str, Decimal]) -> str:
        whens = [f"WHEN {literal(raw)} THEN {factor}" for raw, factor in sorted(factors.items()) if factor != 1]
        if not whens:
            return f"1::{QUANTITY}"
        return f"(CASE {expr} {' '.join(whens)} ELSE 1 END)::{QUANTITY}"


@dataclass(frozen=True)
class Context:
    """What a format's FOCUS query needs besides the file: ids for lineage, units found."""

    source_id: str
    source_format: str
    source_file: str
    units: UnitMap


class Format(Protocol):
    name: str
    provider: str
    description: str
    #: which FOCUS metric the source's own cost column reconciles with
    reconciles_with: str
    requirements: tuple[Requirement, ...]
    currency_column: str  # canonical column holding the billing currency
    cost_sources: tuple[str, ...]  # the file's own cost column, under each name it may have
    unit_columns: tuple[str, ...]  # canonical columns holding provider units

    def matches(self, info: SourceInfo) -> bool: ...
    def canonical_sql(self, info: SourceInfo) -> str: ...
    def focus_sql(self, canonical_sql: str, context: Context) -> str: ...
    def totals_sql(self, canonical_sql: str) -> str: ...


def lineage_sql(context: Context, line_id: str, usage_type: str, extras: str = "NULL") -> str:
    """WedCloud's own ``x_`` columns, identical for every format."""
    return f"""
    {literal(context.source_id)} AS x_SourceId,
    {literal(context.source_format)} AS x_SourceFormat,
    {literal(context.source_file)} AS x_SourceFile,
    {line_id} AS x_SourceLineId,
    {usage_type} AS x_UsageType,
    {extras}::JSON AS x_Extras"""


_GROUPED_NUMBER = r"^\s*-?[$€£¥]?\s*-?[0-9]{1,3}(,[0-9]{3})*(\.[0-9]+)?\s*$"


def decimal_sql(expr: str, sql_type: str = MONEY) -> str:
    """A number as the decimal it is written as. Through text, because a binary double
    (Parquet and JSON exports) cast straight to DECIMAL(38,18) keeps its binary noise
    (``5339.485366025500015744``) while its shortest text is what the provider meant."""
    return f"TRY_CAST(CAST({expr} AS VARCHAR) AS {sql_type})"


def money_sql(expr: str) -> str:
    """A decimal from a number, or from text a spreadsheet wrote (``"$10,100.00 "``)."""
    text = f"CAST({expr} AS VARCHAR)"
    return (
        f"COALESCE({decimal_sql(expr)}, CASE WHEN regexp_matches({text}, {literal(_GROUPED_NUMBER)}) "
        f"THEN TRY_CAST(regexp_replace({text}, '[\\s$€£¥,]', '', 'g') AS {MONEY}) END)"
    )


MONEY_SCALE = int(MONEY.rstrip(")").split(",")[1])


def product_sql(left: str, right: str) -> str:
    """``left`` x ``right`` rounded half away from zero to MONEY's scale. The same value as
    ``CAST(left * right AS MONEY)``, but ``round`` takes a third less time than the cast on the
    38-digit products of a price and a quantity (the dearest step of a mapping)."""
    return f"CAST(round({left} * {right}, {MONEY_SCALE}) AS {MONEY})"


def priced_sql(unit_price: str, quantity: str, fallback: str, *, product: str | None = None) -> str:
    """A cost defined as unit price x pricing quantity (how FOCUS defines ListCost and
    ContractedCost), or ``fallback`` when either is unknown. ``product`` is the product
    already computed as MONEY, where the query has it."""
    return (
        f"CASE WHEN {unit_price} IS NOT NULL AND {quantity} IS NOT NULL "
        f"THEN {product or product_sql(unit_price, quantity)} ELSE {fallback} END"
    )


NULL_PLACEHOLDERS = ("", "Unassigned", "Not applicable", "Not Applicable", "-2", "None", "null", "NULL", "N/A")


def clean(expr: str) -> str:
    """NULL where a provider writes a placeholder instead of nothing."""
    placeholders = ", ".join(literal(p) for p in NULL_PLACEHOLDERS)
    return f"(CASE WHEN trim(CAST({expr} AS VARCHAR)) IN ({placeholders}) THEN NULL ELSE CAST({expr} AS VARCHAR) END)"
