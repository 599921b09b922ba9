"""Units of measure: what providers write, and the FOCUS UnitFormat it means.

FOCUS 1.2 asks PricingUnit and ConsumedUnit to follow UnitFormat: a unit from its list
with consistent capitalisation, optionally prefixed by a whole-number block size
(``1000 Requests``) or combined with time (``GB-Months``, ``Requests/Second``). Providers
write ``Hrs``, ``GB-Mo``, ``1 GB/Month``, ``10 Hours``, ``gibibyte month``. ``focus_unit``
turns each into (unit, block size); a normaliser writes the block into PricingUnit and keeps
quantities in the provider's own pricing blocks.
"""

from __future__ import annotations

import re
from decimal import Decimal

_WORDS = {
    "hr": "Hours", "hrs": "Hours", "hour": "Hours", "hours": "Hours", "h": "Hours",
    "second": "Seconds", "seconds": "Seconds", "sec": "Seconds", "secs": "Seconds", "s": "Seconds",
    "minute": "Minutes", "minutes": "Minutes", "min": "Minutes", "mins": "Minutes",
    "day": "Days", "days": "Days", "month": "Months", "months": "Months", "mo": "Months", "mth": "Months",
    "year": "Years", "years": "Years", "yr": "Years",
    "gb": "GB", "gigabyte": "GB", "gigabytes": "GB", "gib": "GiB", "gibibyte": "GiB", "gibibytes": "GiB",
    "tb": "TB", "tib": "TiB", "tebibyte": "TiB", "mb": "MB", "mib": "MiB", "mebibyte": "MiB", "kb": "KB",
    "byte": "Bytes", "bytes": "Bytes", "bit": "Bits", "bits": "Bits",
    "request": "Requests", "requests": "Requests", "req": "Requests", "api calls": "Requests",
    "transaction": "Transactions", "transactions": "Transactions", "query": "Queries", "queries": "Queries",
    "count": "Count", "unit": "Units", "units": "Units", "each": "Units", "ea": "Units", "item": "Units",
    "ios": "IOs", "io": "IOs", "iops": "IOPS", "key": "Keys", "keys": "Keys", "event": "Events", "events": "Events",
    "message": "Messages", "messages": "Messages", "token": "Tokens", "tokens": "Tokens",
    "vcpu": "vCPU", "vcpus": "vCPU", "core": "Cores", "cores": "Cores", "gpu": "GPUs", "gpus": "GPUs",
    "instance": "Instances", "instances": "Instances", "user": "Users", "users": "Users",
    "dollar": "Dollars", "dollars": "Dollars",
    "commitment": "Commitment", "normalized hour": "Normalized Hours", "normalized hours": "Normalized Hours",
}  # fmt: skip
_TIME = {"Hours", "Seconds", "Minutes", "Days", "Months", "Years"}
_SINGULAR = {plural: plural[:-1] for plural in _TIME}
_SCALE = {"k": 1000, "m": 1_000_000, "b": 1_000_000_000}


def _word(raw: str) -> str:
    key = raw.strip().lower()
    if key in _WORDS:
        return _WORDS[key]
    # keep an unknown unit readable: each word capitalised, e.g. "lambda-gb-second" -> "Lambda-GB-Second"
    return "-".join(part[:1].upper() + part[1:] for part in re.split(r"-", raw.strip()) if part)


def focus_unit(raw: str | None) -> tuple[str | None, Decimal]:
    """The FOCUS unit and the block size a provider's unit string stands for."""
    if raw is None or not raw.strip():
        return None, Decimal(1)
    text = raw.strip()
    bare = re.match(r"^(\d+(?:\.\d+)?)\s*([kKmMbB])?$", text)
    if bare:  # a count with no unit, e.g. Azure's "10K": ten thousand of whatever is metered
        return "Units", Decimal(bare.group(1)) * _SCALE.get((bare.group(2) or "").lower(), 1)
    block = Decimal(1)
    match = re.match(r"^(\d+(?:\.\d+)?)\s*([kKmMbB])?\s+(.*)$", text)
    if match:
        block = Decimal(match.group(1)) * _SCALE.get((match.group(2) or "").lower(), 1)
        text = match.group(3)
    lowered = text.lower()
    if lowered in _WORDS:
        return _WORDS[lowered], block
    for separator in ("/", " per ", "-", " "):
        if separator in lowered:
            if separator == " per ":
                left, right = re.split(" per ", text, maxsplit=1, flags=re.IGNORECASE)
            else:
                left, right = text.split(separator, 1)
            measure, per = _word(left), _word(right)
            measure = "Byte" if measure == "Bytes" else measure
            if per in _TIME and separator != "/" and separator != " per ":
                return f"{measure}-{per}", block
            if per in _TIME and measure not in _TIME:
                # "GB/Month" is storage held over time (GB-Months); "Requests/Second" is a rate
                if measure in {"GB", "GiB", "TB", "TiB", "MB", "MiB", "Bytes", "IOPS", "vCPU", "Cores"}:
                    return f"{measure}-{per}", block
                return f"{measure}/{_SINGULAR[per]}", block
            return f"{measure} {per}".strip(), block
    return _word(text), block


def pricing_unit_label(unit: str | None, block: Decimal) -> str | None:
    """The PricingUnit string: the unit, prefixed by its block size when it is not 1."""
    if unit is None:
        return None
    return unit if block == 1 else f"{block.normalize():f} {unit}"
