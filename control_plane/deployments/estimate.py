"""Monthly cost estimates of a rendered template, from each provider's price catalogue.

An instance or database costs its size's on-demand list price per hour ×
:data:`~control_plane.deployments.spec.HOURS_PER_MONTH` (× the desired capacity of an instance
group: ``options.desired``, else ``options.min``, else 1), plus ``options.storage_gb`` at the
block-storage price where the catalogue has one. A volume costs its GB at the block-storage price
per GB-month; a bucket ``options.expected_gb`` at the object-storage price. A real cloud whose
adapter publishes no catalogue is priced from WedCloud's shipped list-price snapshot
(``clouds.price_snapshot``: common instance types and block storage, approximate, and the basis
says so). Where neither has a price the estimate says so (``monthly`` None) rather than guessing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.orm import Session

from clouds.base import COMPUTE_SERVICE, DATABASE_SERVICE, CloudProvider, InstanceType
from clouds.errors import CloudError
from clouds.price_snapshot import shipped
from clouds.prices import CLOUDS, PriceList
from clouds.sandbox.provider import SandboxCloud
from control_plane.deployments.spec import HOURS_PER_MONTH, DesiredResource, Estimate, Rendered
from control_plane.services.errors import ServiceError
from control_plane.services.resources import AdapterFor
from control_plane.store.models import Provider

CENT = Decimal("0.01")
DEFAULT_CURRENCY = "USD"  # the currency of every list price the adapters publish
POWERED = ("instance", "instance_group", "database")


@dataclass(frozen=True)
class StoragePrice:
    """Per GB-month, in ``currency``, in one region (None: not known)."""

    block_gb_month: Decimal | None
    object_gb_month: Decimal | None
    currency: str = DEFAULT_CURRENCY


def snapshot_of(adapter: CloudProvider, region: str) -> PriceList | None:
    """The shipped list-price snapshot of a real cloud's region (None for the sandbox, which has
    its own catalogue, or a region the snapshot does not price)."""
    kind = getattr(adapter, "kind", None)
    if isinstance(adapter, SandboxCloud) or kind not in CLOUDS:
        return None
    return shipped(str(kind), region)


def _snapshot_note(prices: PriceList) -> str:
    return f" (WedCloud's shipped list-price snapshot of {prices.fetched_at:%Y-%m-%d}: approximate)"


def storage_price(adapter: CloudProvider, region: str) -> StoragePrice | None:
    """Block and object storage prices where the adapter's catalogue has them (the sandbox's
    flavours, at the region's price factor); None for a cloud whose adapter publishes none."""
    if isinstance(adapter, SandboxCloud):
        try:
            factor = adapter.flavour.region(region).price_factor
        except KeyError:
            return None
        prices = adapter.flavour.storage
        return StoragePrice(prices.block_gb_month * factor, prices.object_gb_month * factor)
    snapshot = snapshot_of(adapter, region)
    if snapshot is None or snapshot.block_gb_month is None:
        return None
    return StoragePrice(snapshot.block_gb_month, None, snapshot.currency)


def catalogue_of(adapter: CloudProvider, region: str) -> list[InstanceType] | str:
    """The adapter's price catalogue for ``region``, or why there is none."""
    try:
        return adapter.price_catalogue(region=region)
    except CloudError as exc:
        return str(exc) or type(exc).__name__


def capacity_of(desired: DesiredResource) -> int:
    """How many instances a resource runs: an instance group's desired capacity (else its
    minimum, else 1); 1 for anything else."""
    if desired.type != "instance_group":
        return 1
    for key in ("desired", "min"):
        value = desired.options.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return 1


def _gb(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        gb = Decimal(str(value))
    except ArithmeticError:
        return None
    return gb if gb.is_finite() and gb >= 0 else None


def _money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _sized(desired: DesiredResource, catalogue: list[InstanceType] | str, storage: StoragePrice | None) -> Estimate:
    if isinstance(catalogue, str):
        return Estimate(None, DEFAULT_CURRENCY, f"no price catalogue for {desired.region}: {catalogue}")
    service = DATABASE_SERVICE if desired.type == "database" else COMPUTE_SERVICE
    found = next((t for t in catalogue if t.name == desired.size and t.service in (service, None)), None)
    currency = catalogue[0].currency if catalogue else DEFAULT_CURRENCY
    if found is None:
        return Estimate(None, currency, f"{desired.size} is not a {service} size of the catalogue for {desired.region}")
    count = capacity_of(desired)
    monthly = found.hourly_price * HOURS_PER_MONTH * count
    basis = f"{count} × {desired.size} at {found.hourly_price.normalize()} {found.currency}/h × {HOURS_PER_MONTH} h"
    gb = _gb(desired.options.get("storage_gb"))
    if gb and storage is not None and storage.block_gb_month is not None:
        monthly += gb * count * storage.block_gb_month
        basis += f" + {count} × {gb} GB at {storage.block_gb_month.normalize()} {storage.currency}/GB-month"
    elif gb:
        basis += "; its storage is not priced (no block-storage price in the catalogue)"
    return Estimate(_money(monthly), found.currency, basis)


def _stored(desired: DesiredResource, storage: StoragePrice | None) -> Estimate:
    if desired.type == "volume":
        gb = _gb(desired.size.removesuffix("GB"))
        if gb is None:
            return Estimate(None, DEFAULT_CURRENCY, f"a volume's size is a number of GB, not {desired.size!r}")
        if storage is None or storage.block_gb_month is None:
            return Estimate(None, DEFAULT_CURRENCY, "no block-storage price in the catalogue")
        price = storage.block_gb_month
        return Estimate(_money(gb * price), storage.currency,
                        f"{gb} GB at {price.normalize()} {storage.currency}/GB-month")  # fmt: skip
    expected = _gb(desired.options.get("expected_gb"))
    if storage is None or storage.object_gb_month is None:
        return Estimate(None, DEFAULT_CURRENCY, "no object-storage price in the catalogue")
    if expected is None:
        return Estimate(Decimal("0.00"), storage.currency, "priced per GB stored; give options.expected_gb")
    price = storage.object_gb_month
    return Estimate(_money(expected * price), storage.currency,
                    f"{expected} GB expected at {price.normalize()} {storage.currency}/GB-month")  # fmt: skip


def estimate(
    adapter: CloudProvider, desired: DesiredResource, catalogue: list[InstanceType] | str | None = None
) -> Estimate:
    """The monthly cost of one rendered resource from ``adapter``'s price catalogue (``catalogue``:
    the one :func:`catalogue_of` gave for its region already)."""
    storage = storage_price(adapter, desired.region)
    if desired.type in POWERED:
        catalogue = catalogue_of(adapter, desired.region) if catalogue is None else catalogue
        if isinstance(catalogue, str) and (snapshot := snapshot_of(adapter, desired.region)) is not None:
            found = _sized(desired, list(snapshot.instance_types), storage)
            return replace(found, basis=found.basis + _snapshot_note(snapshot))
        return _sized(desired, catalogue, storage)
    found = _stored(desired, storage)
    snapshot = snapshot_of(adapter, desired.region)
    return replace(found, basis=found.basis + _snapshot_note(snapshot)) if found.monthly and snapshot else found


def estimates(session: Session, rendered: Rendered, adapter_for: AdapterFor) -> dict[str, Estimate]:
    """Each rendered resource's monthly estimate (logical name -> Estimate), one adapter and one
    catalogue per provider and region."""
    adapters: dict[uuid.UUID, CloudProvider | str] = {}
    catalogues: dict[tuple[uuid.UUID, str], list[InstanceType] | str] = {}
    out = {}
    for name, desired in rendered.resources.items():
        if desired.provider_id not in adapters:
            adapters[desired.provider_id] = _adapter(session, desired.provider_id, adapter_for)
        adapter = adapters[desired.provider_id]
        if isinstance(adapter, str):
            out[name] = Estimate(None, DEFAULT_CURRENCY, adapter)
            continue
        key = (desired.provider_id, desired.region)
        if desired.type in POWERED and key not in catalogues:
            catalogues[key] = catalogue_of(adapter, desired.region)
        out[name] = estimate(adapter, desired, catalogues.get(key) if desired.type in POWERED else None)
    return out


def _adapter(session: Session, provider_id: uuid.UUID, adapter_for: AdapterFor) -> CloudProvider | str:
    provider = session.get(Provider, provider_id)
    if provider is None:
        return f"provider {provider_id} is no longer registered"
    try:
        return adapter_for(provider, session)
    except (ServiceError, CloudError) as exc:
        return f"the {provider.name} adapter is unavailable: {exc}"


def total(found: dict[str, Estimate]) -> dict[str, Decimal]:
    """The monthly total per currency of the resources that have a price."""
    sums: dict[str, Decimal] = {}
    for item in found.values():
        if item.monthly is not None:
            sums[item.currency] = sums.get(item.currency, Decimal("0.00")) + item.monthly
    return sums
