"""Reserved regional IP addresses (Compute Engine ``addresses``, region operations), for the
Google Cloud adapter, through the clients of :mod:`clouds.gcp.api`.

An external address is attached to its first user (an instance, by the instance's id, or a
forwarding rule; ``unknown`` when GCE says IN_USE and names none). An address has no
``details["state_since"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.api_core import exceptions as google_errors

from clouds.base import CloudResource, ResourceState, ResourceType
from clouds.errors import InvalidStateTransition
from clouds.gcp.api import GcpApi, address_parts, created, last, translate, user_labels, with_token

_UNKNOWN_USER = "unknown"  # what an address IN_USE is attached to when GCE names no user


def _user_id(url: str) -> str:
    """A user's id from its URL: an instance's is the id this adapter gives instances."""
    text = str(url)
    return text[text.index("projects/") :] if "projects/" in text else text


class Addresses:
    """The project's reserved regional addresses."""

    def __init__(self, api: GcpApi) -> None:
        self._api = api

    def to_cloud(self, address: Any) -> CloudResource:
        """A reserved address: RESERVED is unattached, IN_USE is used by its first user."""
        region, status = last(address.region), str(address.status)
        users = [_user_id(u) for u in address.users]
        # in use but naming no user: attached to something unknown, never called unattached
        attached = users[0] if users else (_UNKNOWN_USER if status == "IN_USE" else None)
        return CloudResource(
            id=f"projects/{self._api.project}/regions/{region}/addresses/{address.name}",
            name=address.name,
            resource_type=ResourceType.NETWORK,
            subtype="address",
            region=region,
            state=ResourceState.PROVISIONING if status == "RESERVING" else ResourceState.AVAILABLE,
            account_id=self._api.project,
            tags=user_labels(address.labels),
            created_at=created(address.creation_timestamp),
            attached_to=attached,
            details={
                "ip": address.address,
                "allocation": "static",  # a reserved address is the project's until released
                "gce_status": status,
                "network_tier": str(address.network_tier) or None,
                "address_id": str(address.id),
            },
        )

    def get(self, resource_id: str) -> Any:
        project, region, name = address_parts(resource_id)
        try:
            return self._api.addresses.get(project=project, region=region, address=name)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc

    def describe(self, resource_id: str) -> CloudResource:
        return self.to_cloud(self.get(resource_id))

    def tag(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource:
        address = self.get(resource_id)
        body = self._api.compute_v1.RegionSetLabelsRequest(
            labels=with_token(tags, address.labels), label_fingerprint=address.label_fingerprint
        )
        self._call(resource_id, "set_labels", "resource", region_set_labels_request_resource=body)
        return self.describe(resource_id)

    def release(self, resource_id: str, current: CloudResource) -> None:
        """Release an address (``current`` as described), unless something uses it."""
        if current.attached_to:  # as GCE refuses it (resourceInUseByAnotherResource), said plainly
            raise InvalidStateTransition(resource_id, f"in use by {current.attached_to}", "release")
        self._call(resource_id, "delete")

    def _call(self, resource_id: str, method: str, name_as: str = "address", **arguments: Any) -> None:
        """An address's ``method`` (a region operation), waited on."""
        project, region, name = address_parts(resource_id)
        try:
            operation = getattr(self._api.addresses, f"{method}_unary")(
                project=project, region=region, **{name_as: name}, **arguments
            )
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        self._api.wait(operation, resource_id)
