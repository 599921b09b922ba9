"""A drill's two extra steps: an isolated network to restore into, and the copies' health.

Isolation: the drill asks the target's adapter for an isolated network in the DR region
(:meth:`clouds.base.CloudProvider.isolated_network`: on AWS a VPC with no internet gateway and
closed security groups; on Google Cloud a custom-mode VPC network with deny-all firewall rules
and no internet route; on Azure a virtual network whose subnet a deny-all security group closes;
on the sandbox a modelled one) carrying the drill's tag, and restores every copy into it, so that
copies of production servers cannot reach the services production talks to. The teardown deletes
it with the copies (a sweep by the tag finds it after a crash). Where the cloud will not make one
(a quota such as AWS's five VPCs a region, too few zones, a refused call, an adapter without
networks) the step fails and the drill restores nothing: copies of production never run outside
an isolated network, and a drill that was not isolated never passes.

Health: the copies' state as the cloud reports it (running, or available for storage), read
once more after the wait. An application probe of the plan's health-check URL is not made: that
URL is production's, and the copies' isolated network is reachable from nowhere, the control
plane included. The step says so rather than claim a check it did not make.
"""

from __future__ import annotations

from typing import Any

from clouds.base import CloudProvider, ResourceState
from clouds.errors import CloudError
from control_plane.disaster_recovery.runs import DRILL_TAG, PLAN_TAG, Run, StepFailed

HEALTHY = (ResourceState.RUNNING, ResourceState.AVAILABLE)


def isolate(run: Run, adapter: CloudProvider, region: str) -> dict[str, Any]:
    """The journalled step making the drill's isolated network: what the report says of it
    (``isolated``, and the network's id and parts, or why there is none)."""
    tags = {DRILL_TAG: str(run.run_id), **({PLAN_TAG: str(run.plan_id)} if run.plan_id else {})}
    with run.step(f"make an isolated network in {region}") as step:
        try:
            network = adapter.isolated_network(region=region, name=f"wedcloud-drill-{run.run_id.hex[:12]}", tags=tags)
        except CloudError as exc:
            step.update(isolated=False, why=str(exc))
            raise StepFailed(f"no isolated network in {region} ({exc}): a drill restores copies of production only "
                             "into one, so nothing was restored") from exc  # fmt: skip
        found = {"isolated": True, "network_id": network.id, "name": network.name,
                 **{k: v for k, v in network.details.items() if k != "isolated"}}  # fmt: skip
        step.update(found)
    return found


def check_health(run: Run, adapter: CloudProvider, made: list[dict[str, Any]], *, region: str,
                 health_check_url: str | None, isolated: bool) -> dict[str, Any]:  # fmt: skip
    """The journalled health step: every copy's state as the cloud reports it now; StepFailed
    naming the copies that are not running (or available)."""
    with run.step(f"check the health of {len(made)} copies in {region}") as step:
        copies: list[dict[str, Any]] = []
        for item in made:
            found = adapter.describe(item["cloud_id"])
            copies.append({"cloud_id": found.id, "state": found.state.value, "healthy": found.state in HEALTHY})
        if health_check_url is None:
            probe = "none: the plan has no health-check URL"
        elif isolated:
            probe = (
                f"not made: {health_check_url} is production's, and the copies' isolated network cannot be "
                "reached from the control plane; healthy means the cloud reports them running or available"
            )
        else:
            probe = f"not made: {health_check_url} is production's, and a drill never probes production"
        step.update(copies=copies, application_probe=probe)
        sick = [c["cloud_id"] for c in copies if not c["healthy"]]
        if sick:
            raise StepFailed(f"{len(sick)} copy(ies) not running or available: {', '.join(sick)}")
    return {"copies": copies, "application_probe": probe}
