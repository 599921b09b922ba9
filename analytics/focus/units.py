"""Units of measure: what providers write, and the FOCUS 1.2 UnitFormat it means.

FOCUS 1.2's UnitFormat attribute lists the units (data sizes ``B`` ... ``EiB`` and bits
``b`` ... ``Eib``; times ``Year`` ... ``Second``; counts such as ``Count``, ``Unit``,
``Request``, ``Token``) and five shapes: ``<plural-units>`` (``GB``, ``Hours``),
``<singular-unit>-<plural-time-units>`` (``GB-Hours``), ``<plural-units>/<singular-time-unit>``
(``GB/Hour``), ``<quantity> <plural-units>`` (``1000 Requests``, a whole number) and
``<plural-units>/<interval> <plural-time-units>`` (``Units/3 Months``).

Providers write ``Hrs``, ``GB-Mo``, ``1/Month``, ``10K``, ``100 Hours``, ``gibibyte month``.
:func:`map_unit` turns each into a FOCUS unit and the block size the provider prices in
(``10 Hours`` is the unit ``Hours`` in blocks of 10). A normaliser folds a block into the
quantity (times the block) and the unit prices (divided by it), so PricingUnit is the bare
unit; a block that one cannot divide by exactly in decimal (``744 Connections``) stays as a
whole-number prefix instead. A unit that fits no shape, or whose block is 0 or above
:data:`MAX_BLOCK`, is kept as written, ``mapped=False``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

DATA_SIZES = (
    "b", "Kb", "Mb", "Gb", "Tb", "Pb", "Eb", "B", "KB", "MB", "GB", "TB", "PB", "EB",
    "Kib", "Mib", "Gib", "Tib", "Pib", "Eib", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB",
)  # fmt: skip
TIMES = {"Year": "Years", "Month": "Months", "Day": "Days", "Hour": "Hours", "Minute": "Minutes", "Second": "Seconds"}

# Words providers write for a time unit (singular FOCUS name), in any case.
_TIME_WORDS = {
    **{t.lower(): t for t in TIMES},
    **{p.lower(): s for s, p in TIMES.items()},
    "hr": "Hour", "hrs": "Hour", "h": "Hour", "hora": "Hour", "horas": "Hour", "小时": "Hour",
    "mo": "Month", "mth": "Month", "mes": "Month", "月": "Month", "yr": "Year", "min": "Minute",
    "mins": "Minute", "sec": "Second", "secs": "Second", "s": "Second", "minute(s)": "Minute",
}  # fmt: skip
# Words for a data size, in lower case (providers write "Gb" and "gb" for gigabytes).
_SIZE_WORDS = {
    "byte": "B", "bytes": "B", "kb": "KB", "mb": "MB", "gb": "GB", "tb": "TB", "pb": "PB",
    "kib": "KiB", "mib": "MiB", "gib": "GiB", "tib": "TiB", "pib": "PiB",
    "kilobyte": "KB", "megabyte": "MB", "gigabyte": "GB", "terabyte": "TB", "petabyte": "PB",
    "kibibyte": "KiB", "mebibyte": "MiB", "gibibyte": "GiB", "tebibyte": "TiB", "pebibyte": "PiB",
}  # fmt: skip
_SIZE_WORDS |= {f"{k}s": v for k, v in list(_SIZE_WORDS.items()) if k.endswith("byte")}
# Count words with a FOCUS spelling (plural, as UnitFormat asks), in lower case.
_COUNT_WORDS = {
    "count": "Count", "unit": "Units", "units": "Units", "request": "Requests", "requests": "Requests",
    "api request": "API Requests", "api requests": "API Requests", "api calls": "Requests",
    "call": "Calls", "calls": "Calls", "per call": "Calls", "token": "Tokens", "tokens": "Tokens",
    "connection": "Connections", "connections": "Connections", "certificate": "Certificates",
    "domain": "Domains", "domains": "Domains", "core": "Cores", "cores": "Cores", "vcpu": "vCPU",
    "vcpus": "vCPU", "io": "IOs", "ios": "IOs", "iops": "IOPS", "query": "Queries", "queries": "Queries",
    "key": "Keys", "keys": "Keys", "key use": "Keys", "user": "Users", "users": "Users",
    "named users": "Users", "device": "Devices", "devices": "Devices", "node": "Nodes", "nodes": "Nodes",
    "plan": "Plans", "plans": "Plans", "subscription": "Subscriptions", "subscriptions": "Subscriptions",
    "vm": "Virtual Machines", "virtual machine": "Virtual Machines", "website": "Websites",
    "resource": "Resources", "pipeline": "Pipelines", "rotation": "Rotations", "instance": "Instances",
    "instances": "Instances", "obj": "Objects", "object": "Objects", "database unit": "Database Units",
    "database units (du)": "Database Units", "messaging unit": "Messaging Units", "event": "Events",
    "message": "Messages", "transaction": "Transactions", "print job": "Print Jobs",
    "per privacy subject rights request": "Requests", "mbps": "Mb/Second", "gbps": "Gb/Second",
    "callingminutes": "Minutes", "million": "Units", "hosted zones": "Zones",
}  # fmt: skip
# Phrases naming a rate: "1 Daily Unit" is Units/Day, "1000 MAUs" is (monthly active) Users/Month.
_PERIODIC = {"daily": "Day", "hourly": "Hour", "annual": "Year", "monthly": "Month"}
_ABBREVIATED = {"maus": "Users/Month", "mau": "Users/Month"}
# "<singular-unit>-<plural-time-units>": the singular of the plural count words above
_SINGULAR = {
    "Units": "Unit", "Requests": "Request", "API Requests": "API Request", "Cores": "Core",
    "Instances": "Instance", "Users": "User", "Nodes": "Node", "Connections": "Connection",
    "Objects": "Object", "Tokens": "Token", "Calls": "Call", "Keys": "Key", "Devices": "Device",
}  # fmt: skip
_SUFFIX = {"": 1, "k": 1000, "m": 1_000_000, "b": 1_000_000_000}
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_LEADING = re.compile(r"^(\d+)([kKmMbB])?(?=$|[\s/])\s*(.*)$")
#: the largest block folded: beyond it a quantity times the block (or a price divided by it)
#: leaves the QUANTITY and MONEY decimals; a block of 0 would zero the quantity
MAX_BLOCK = Decimal(10) ** 12


@dataclass(frozen=True)
class MappedUnit:
    """A provider unit read as FOCUS: the unit, the block it is priced in, and whether the
    reading is sure (``mapped``); an unmapped unit is the provider's text, block 1."""

    unit: str
    block: Decimal
    mapped: bool = True

    @property
    def foldable(self) -> bool:
        """Whether dividing a price by the block is exact in decimal (the block is 2^a 5^b)."""
        if not self.mapped or self.block <= 0 or self.block != self.block.to_integral_value():
            return False
        rest = int(self.block)
        for prime in (2, 5):
            while rest % prime == 0:
                rest //= prime
        return rest == 1

    @property
    def fold(self) -> Decimal:
        """The factor a pricing quantity is multiplied by (and unit prices divided by). A rate
        or a unit over time cannot take a prefix ("30 Units/Day" is no UnitFormat shape), so its
        block is folded even where the divided price rounds at MONEY's 18 decimals."""
        compound = "/" in self.unit or "-" in self.unit
        return self.block if self.foldable or (self.mapped and compound) else Decimal(1)

    @property
    def pricing_unit(self) -> str:
        """PricingUnit for a quantity scaled by :attr:`fold`: the bare unit, or a whole-number
        prefix where the block cannot be folded."""
        return self.unit if self.fold == self.block else with_block(self.unit, self.block)


def with_block(unit: str, block: Decimal) -> str:
    """``<quantity> <unit>`` (the unit itself for a block of 1)."""
    return unit if block == 1 else f"{block.normalize():f} {unit}"


def _count(words: str) -> str | None:
    """A count unit in FOCUS spelling: a known word, else the words capitalised (UnitFormat
    allows count units beyond its list), or None when they are not plain words."""
    key = words.strip().lower()
    if key in _COUNT_WORDS:
        return _COUNT_WORDS[key]
    if key in _SIZE_WORDS:
        return _SIZE_WORDS[key]
    parts = words.split()
    if not parts or not all(_WORD.match(p) for p in parts):
        return None
    return " ".join(p[:1].upper() + p[1:] for p in parts)


def _measure(words: str) -> str | None:
    """The thing measured over time in ``<measure>-<time>``: a data size wins ("Lambda GB")."""
    parts = [p for p in re.split(r"[\s-]+", words.strip()) if p]
    sizes = [_SIZE_WORDS[p.lower()] for p in parts if p.lower() in _SIZE_WORDS]
    if sizes:
        return sizes[-1]
    unit = _count(" ".join(parts))
    return _SINGULAR.get(unit, unit) if unit else None


def _body(text: str) -> str | None:
    """The FOCUS unit of a provider's unit text without its leading block size."""
    lowered = text.strip().lower()
    if not lowered:
        return "Units"
    if lowered in _ABBREVIATED:
        return _ABBREVIATED[lowered]
    if lowered in _TIME_WORDS:
        return TIMES[_TIME_WORDS[lowered]]
    if lowered in _COUNT_WORDS or lowered in _SIZE_WORDS:
        return _count(text)
    if lowered.startswith("por "):  # "1 por mes": once a month
        time = _TIME_WORDS.get(lowered[4:].strip())
        return TIMES[time] if time else None
    first, _, rest = text.strip().partition(" ")
    if first.lower() in _PERIODIC and rest:  # "1 Daily Unit", "1 Annual Domains"
        counted = _count(rest)
        return f"{counted}/{_PERIODIC[first.lower()]}" if counted else None
    if "/" in text:  # a rate: "GB/Month", "/Day", "Units/3 Months"
        left, right = (part.strip() for part in text.split("/", 1))
        interval = re.match(r"^(\d+)\s+(.+)$", right)
        time = _TIME_WORDS.get((interval.group(2) if interval else right).lower())
        if time is None:
            return None
        left_unit = _count(left) if left else "Units"
        if left_unit is None:
            return None
        if interval:
            return f"{left_unit}/{interval.group(1)} {TIMES[time]}"
        return f"{left_unit}/{time}"
    parts = [p for p in re.split(r"[\s-]+", text.strip()) if p]
    if len(parts) > 1 and parts[-1].lower() in _TIME_WORDS:  # "GB Hour", "gibibyte month", "vCPU-Hours"
        measure = _measure(" ".join(parts[:-1]))
        if measure is None:
            return None
        return f"{measure}-{TIMES[_TIME_WORDS[parts[-1].lower()]]}"
    return _count(text)


def map_unit(raw: str | None) -> MappedUnit | None:
    """The FOCUS reading of a provider's unit string (None for an empty one)."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    block = Decimal(1)
    leading = _LEADING.match(text)
    if leading:
        block = Decimal(leading.group(1)) * _SUFFIX[(leading.group(2) or "").lower()]
        text = leading.group(3)
        if text.startswith("/"):  # "1/Month": a count per month
            text = "Units" + text
        repeated = _LEADING.match(text)
        if repeated and not repeated.group(2) and repeated.group(3):  # "1 1 Hour"
            block *= Decimal(repeated.group(1))
            text = repeated.group(3)
    unit = _body(text)
    if unit is None or not 0 < block <= MAX_BLOCK:
        return MappedUnit(raw.strip(), Decimal(1), mapped=False)
    return MappedUnit(unit, block)


def focus_unit(raw: str | None) -> tuple[str | None, Decimal]:
    """The FOCUS unit and the block size a provider's unit string stands for."""
    mapped = map_unit(raw)
    return (None, Decimal(1)) if mapped is None else (mapped.unit, mapped.block)


def pricing_unit_label(unit: str | None, block: Decimal) -> str | None:
    """The PricingUnit string: the unit, prefixed by its block size when it is not 1."""
    return None if unit is None else with_block(unit, block)
