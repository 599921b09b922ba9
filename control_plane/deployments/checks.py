"""What a rendered template needs of its clouds, checked before anything is made: each region
is offered, each size is in the provider's price catalogue (a database class for a database, an
instance type for an instance or group), the instances fit the account's quota where the SDK
tells it (EC2's ``max-instances``), and no cloud name is already taken outside the deployment.

A check the cloud cannot answer (no catalogue, no quota, no adapter) is not a problem: it comes
back as a warning saying what was not checked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.aws.provider import AwsCloud
from clouds.base import COMPUTE_SERVICE, DATABASE_SERVICE, CloudProvider, InstanceType
from clouds.errors import CloudError
from clouds.sandbox.provider import SandboxCloud
from control_plane.deployments.estimate import capacity_of, catalogue_of
from control_plane.deployments.spec import DesiredResource, Rendered, TemplateProblem
from control_plane.deployments.template import cloud_name
from control_plane.deployments.template_refs import pointer
from control_plane.services.errors import ServiceError
from control_plane.services.resources import AdapterFor
from control_plane.store.deployment_models import DeploymentResource
from control_plane.store.models import Provider, Resource

SIZED = {"instance": COMPUTE_SERVICE, "instance_group": COMPUTE_SERVICE, "database": DATABASE_SERVICE}
INSTANCES = ("instance", "instance_group")
_NOUN = {COMPUTE_SERVICE: "an instance type", DATABASE_SERVICE: "a database class"}


@dataclass(frozen=True)
class Checked:
    """Problems (the template cannot work as it is) and warnings (what could not be checked)."""

    problems: list[TemplateProblem] = field(default_factory=list)
    warnings: list[TemplateProblem] = field(default_factory=list)


def at(name: str, key: str | None = None) -> str:
    """The pointer to a resource of the template, or to one of its keys."""
    return f"/template/resources{pointer(name)}" + (f"/{key}" if key else "")


def instance_limit(adapter: CloudProvider, region: str) -> int | None:
    """How many instances the account may run in ``region``, where the cloud says (EC2's
    ``max-instances`` account attribute); None where it does not. Raises CloudError when asking fails."""
    if not isinstance(adapter, AwsCloud):
        return None
    client = adapter.api.client("ec2", region)
    answer = adapter.api.call(lambda: client.describe_account_attributes(AttributeNames=["max-instances"]))
    for attribute in answer.get("AccountAttributes", []):
        if attribute.get("AttributeName") == "max-instances":
            values = [v.get("AttributeValue", "") for v in attribute.get("AttributeValues", [])]
            if values and str(values[0]).isdigit():
                return int(values[0])
    return None


def _size_problem(desired: DesiredResource, catalogue: list[InstanceType]) -> str | None:
    service = SIZED[desired.type]
    matches = [t for t in catalogue if t.name == desired.size]
    if any(t.service in (service, None) for t in matches):
        return None
    offered = sorted(t.name for t in catalogue if t.service in (service, None))
    listed = ", ".join(offered[:12]) + (", ..." if len(offered) > 12 else "")
    if matches:
        other = _NOUN.get(str(matches[0].service), "another kind of size")
        article = "an" if desired.type.startswith("i") else "a"
        return f"{desired.size} is {other}; {article} {desired.type} needs {_NOUN[service]}: one of {listed}"
    return f"{desired.size} is not offered in {desired.region}; {_NOUN[service]} is one of {listed or 'none'}"


class _Checker:
    def __init__(self, session: Session, adapter_for: AdapterFor, deployment_id: uuid.UUID | None) -> None:
        self.session, self.adapter_for, self.deployment_id = session, adapter_for, deployment_id
        self.result = Checked()

    def run(self, rendered: Rendered) -> Checked:
        by_provider: dict[uuid.UUID, list[DesiredResource]] = {}
        for desired in rendered.resources.values():
            by_provider.setdefault(desired.provider_id, []).append(desired)
        for provider_id, resources in by_provider.items():
            provider = self.session.get(Provider, provider_id)
            if provider is None:
                for desired in resources:
                    self.problem(at(desired.name, "provider"), f"provider {provider_id} is no longer registered")
                continue
            try:
                adapter = self.adapter_for(provider, self.session)
            except (ServiceError, CloudError) as exc:
                self.warn(at(resources[0].name, "provider"), f"{provider.name}: not checked, no adapter: {exc}")
                continue
            self._provider(provider, adapter, resources)
        return self.result

    def problem(self, where: str, message: str) -> None:
        self.result.problems.append(TemplateProblem(where, message))

    def warn(self, where: str, message: str) -> None:
        self.result.warnings.append(TemplateProblem(where, message))

    def _provider(self, provider: Provider, adapter: CloudProvider, resources: list[DesiredResource]) -> None:
        regions = self._regions(provider, adapter, resources)
        catalogues: dict[str, list[InstanceType] | str] = {}
        for desired in resources:
            if regions is not None and desired.region not in regions:
                offered = ", ".join(sorted(regions))
                self.problem(
                    at(desired.name, "region"), f"{provider.name} does not offer {desired.region!r}; one of {offered}"
                )
                continue
            if desired.retain == "snapshot" and not _can_snapshot(adapter):
                reason = "cannot be snapshotted on this cloud yet, so its data could not be kept; use retain: delete"
                self.problem(at(desired.name, "retain"), f"{provider.name}: a {desired.type} {reason}")
            if desired.type not in SIZED:
                self._storage_size(provider, adapter, desired)
                continue
            if desired.region not in catalogues:
                catalogues[desired.region] = catalogue_of(adapter, desired.region)
            catalogue = catalogues[desired.region]
            if isinstance(catalogue, str):
                self.warn(at(desired.name, "size"), f"{provider.name}: size not checked, no catalogue: {catalogue}")
            elif message := _size_problem(desired, catalogue):
                self.problem(at(desired.name, "size"), f"{provider.name}: {message}")
        self._quotas(provider, adapter, [d for d in resources if d.type in INSTANCES])

    def _storage_size(self, provider: Provider, adapter: CloudProvider, desired: DesiredResource) -> None:
        """A volume is a number of GB everywhere (render checks that); the sandbox sizes a bucket
        the same way, where a cloud names its storage class (the provider's rules, in render)."""
        if isinstance(adapter, SandboxCloud) and not desired.size.removesuffix("GB").isdigit():
            self.problem(at(desired.name, "size"), f"{provider.name}: the sandbox sizes a {desired.type} by its GB, "
                                                   f"such as '0GB', not {desired.size!r}")  # fmt: skip

    def _regions(self, provider: Provider, adapter: CloudProvider, resources: list[DesiredResource]) -> set[str] | None:
        """The regions to check against: the provider's list (render checked those already),
        else what the cloud lists; None when it cannot say."""
        if provider.regions:
            return None
        try:
            return {region.id for region in adapter.list_regions()}
        except CloudError as exc:
            self.warn(at(resources[0].name, "region"), f"{provider.name}: regions not checked: {exc}")
            return None

    def _quotas(self, provider: Provider, adapter: CloudProvider, resources: list[DesiredResource]) -> None:
        by_region: dict[str, list[DesiredResource]] = {}
        for desired in resources:
            by_region.setdefault(desired.region, []).append(desired)
        for region, members in sorted(by_region.items()):
            try:
                limit = instance_limit(adapter, region)
            except CloudError as exc:
                self.warn(at(members[0].name), f"{provider.name}: the instance quota in {region} not checked: {exc}")
                continue
            if limit is None:
                continue
            running = self._instances_outside(provider.id, region)
            count = running
            for desired in members:
                count += capacity_of(desired)
                if count > limit:
                    message = (f"{provider.name}: {count} instances in {region} ({running} already running) would "
                               f"pass the account's limit of {limit} (max-instances)")  # fmt: skip
                    self.problem(at(desired.name), message)
                    break

    def _instances_outside(self, provider_id: uuid.UUID, region: str) -> int:
        """Instances WedCloud knows of in the region that are not this deployment's own."""
        query = select(Resource.id).where(
            Resource.provider_id == provider_id, Resource.region == region, Resource.subtype == "instance",
            Resource.state != "terminated",
        )  # fmt: skip
        return len(list(self.session.scalars(_outside(query, self.deployment_id))))


def _outside(query, deployment_id: uuid.UUID | None):  # type: ignore[no-untyped-def]
    """``query`` (of resources) without the rows that realise ``deployment_id``'s resources."""
    if deployment_id is None:
        return query
    own = select(DeploymentResource.resource_id).where(
        DeploymentResource.deployment_id == deployment_id, DeploymentResource.resource_id.is_not(None)
    )
    return query.where(Resource.id.not_in(own))


def availability(
    session: Session, rendered: Rendered, adapter_for: AdapterFor, *, deployment_id: uuid.UUID | None = None
) -> Checked:
    """Regions, sizes and quotas of ``rendered`` against its clouds: problems and warnings."""
    return _Checker(session, adapter_for, deployment_id).run(rendered)


def availability_problems(
    session: Session, rendered: Rendered, adapter_for: AdapterFor, *, deployment_id: uuid.UUID | None = None
) -> list[TemplateProblem]:
    """The problems of :func:`availability` (its warnings dropped)."""
    return availability(session, rendered, adapter_for, deployment_id=deployment_id).problems


def name_clashes(
    session: Session, rendered: Rendered, *, deployment_name: str, deployment_id: uuid.UUID | None = None
) -> list[TemplateProblem]:
    """A problem for each resource whose cloud name (:func:`~.template.cloud_name`) a live
    resource of the same provider already has, unless that resource is ``deployment_id``'s own."""
    wanted = {(d.provider_id, cloud_name(deployment_name, d.name)): d.name for d in rendered.resources.values()}
    if not wanted:
        return []
    query = select(Resource).where(
        Resource.provider_id.in_({provider_id for provider_id, _ in wanted}),
        Resource.name.in_(sorted({name for _, name in wanted})),
        Resource.state != "terminated",
    )
    names = _provider_names(session, {provider_id for provider_id, _ in wanted})
    problems = []
    for row in sorted(session.scalars(_outside(query, deployment_id)), key=lambda r: (r.name, str(r.id))):
        logical = wanted.get((row.provider_id, row.name))
        if logical is not None:
            problems.append(TemplateProblem(at(logical), (
                f"{names.get(row.provider_id, row.provider_id)} already has a {row.subtype} named {row.name!r} "
                f"(resource {row.id}) outside this deployment; rename the resource or the deployment"
            )))  # fmt: skip
    return problems


def _can_snapshot(adapter: CloudProvider) -> bool:
    """Whether the adapter takes snapshots (every adapter does since disaster recovery; a test
    double or a future adapter may not)."""
    return callable(getattr(adapter, "snapshot", None))


def _provider_names(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    query = select(Provider.id, Provider.name).where(Provider.id.in_(list(ids)))
    return {row.id: row.name for row in session.execute(query)}
