"""A provider named in a filter: by its id, its WedCloud name, its FOCUS ProviderName or its cloud.

The data name providers three ways: costs carry the FOCUS ``ProviderName`` ("AWS", "Microsoft",
"Google Cloud") and the registered provider's id (``x_SourceId``); recommendations, resources
and operations carry the id; people know a provider by its WedCloud name ("sandbox-aws"). Every
provider filter of the API takes any of them, and the cloud's own key (``aws``, ``azure``,
``gcp``, as in a provider's ``kind``) for its FOCUS name, so ``Azure`` names Microsoft's costs.
A value that names nothing is refused with the values that would (a 422), never answered with an
empty result.

- By id or WedCloud name: that one provider (a name equal to a FOCUS name wins over it).
- By FOCUS ProviderName or cloud (case-insensitive): every cost row of that ProviderName, and
  every registered provider whose bills carry it (two AWS accounts registered: both).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.sandbox.catalog import FLAVOURS, FlavourKey
from control_plane.services.errors import InvalidRequest
from control_plane.services.provider_keys import source_key
from control_plane.store.models import Provider

CLOUD_PROVIDER_NAMES = {"aws": "AWS", "azure": "Microsoft", "gcp": "Google Cloud"}
"""The FOCUS ProviderName of each cloud WedCloud adapts, by the cloud's key (a provider's kind)."""


def focus_name(provider: Provider) -> str | None:
    """The FOCUS ProviderName a provider's bills carry: its cloud's, or its sandbox flavour's."""
    if provider.kind == "sandbox":
        flavour = provider.settings.get("flavour")
        return FLAVOURS[FlavourKey(flavour)].provider_name if flavour in set(FlavourKey) else None
    return CLOUD_PROVIDER_NAMES.get(provider.kind)


@dataclass(frozen=True)
class ProviderSelection:
    """What a provider filter's values name.

    ``keys``: every registered provider named, by id (directly, or through its FOCUS name);
    ``named``: those named directly (by id or WedCloud name); ``focus_names``: the FOCUS
    ProviderNames named (directly or through a cloud)."""

    keys: frozenset[str]
    named: frozenset[str]
    focus_names: frozenset[str]

    @property
    def cost_values(self) -> tuple[str, ...]:
        """The values of the cost tables' provider filter (``analytics.breakdown``): each matches
        a row's ProviderName or its x_SourceId, so "AWS" keeps every AWS row and an id its source's."""
        return tuple(sorted(self.focus_names | self.named))


def select_providers(
    session: Session,
    values: Sequence[str],
    *,
    field: str = "provider",
    location: str = "query",
    data_names: Iterable[str] = (),
    data_keys: Iterable[str] = (),
) -> ProviderSelection:
    """Resolve a filter's values; ``data_names`` adds the ProviderNames the cost data holds (a
    source's bills may carry one no cloud key maps to), ``data_keys`` the provider keys the rows
    being filtered hold (a removed provider's id, or a name from before keys were ids, until the
    ``rekey_providers`` job runs). Raises InvalidRequest (422) naming the field and listing the
    known values when any value names nothing."""
    providers = list(session.scalars(select(Provider).order_by(Provider.name)))
    by_id = {source_key(p): p for p in providers}
    by_name = {p.name: p for p in providers}
    names = {*CLOUD_PROVIDER_NAMES.values(), *(n for n in data_names if n), *filter(None, map(focus_name, providers))}
    orphans = set(data_keys) - set(by_id)
    folded = {name.lower(): name for name in sorted(names)}
    keys: set[str] = set()
    named: set[str] = set()
    focus_names: set[str] = set()
    unknown: list[str] = []
    for value in values:
        provider = by_name.get(value) or by_id.get(_canonical_id(value))
        if provider is not None or value in orphans:
            named.add(source_key(provider) if provider is not None else value)
            continue
        # a FOCUS name as written, else in any case, else a cloud's key ("Azure" -> Microsoft)
        text = value.strip()
        canonical = text if text in names else folded.get(text.lower()) or CLOUD_PROVIDER_NAMES.get(text.lower())
        if canonical is None:
            unknown.append(value)
            continue
        focus_names.add(canonical)
        keys.update(source_key(p) for p in providers if focus_name(p) == canonical)
    if unknown:
        known = known_values(providers, names) + sorted(orphans)
        shown = ", ".join(repr(v) for v in unknown)
        message = f"unknown provider {shown}: name one by id, WedCloud name, FOCUS ProviderName or cloud"
        raise InvalidRequest(
            f"{field}: {message}; known: {', '.join(known)}",
            errors=[{"location": location, "field": field, "message": message, "type": "unknown_provider"}],
            known=known,
        )
    return ProviderSelection(frozenset(keys | named), frozenset(named), frozenset(focus_names))


def known_values(providers: Sequence[Provider], focus_names: Iterable[str]) -> list[str]:
    """What a provider filter accepts: each provider's name and id, the FOCUS ProviderNames and
    the clouds' keys."""
    return [
        *(p.name for p in providers),
        *(source_key(p) for p in providers),
        *sorted(set(focus_names)),
        *CLOUD_PROVIDER_NAMES,
    ]


def _canonical_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value
