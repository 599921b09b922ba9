"""What every part of the Google Cloud adapter shares: the Compute Engine clients
(google-cloud-compute over REST) and the Cloud Storage client (JSON API), every one pointed at the
same endpoint; waiting on zone and region operations; Google API errors as :mod:`clouds.errors`;
resource ids, names and labels.

Changes return zone operations (region operations for addresses, global ones for snapshots); the
adapter waits on them with its own operations clients (``ZoneOperationsClient.wait``,
``RegionOperationsClient.wait``, ``GlobalOperationsClient.wait``)
pointed at the same endpoint as the others, instead of the library's
``ExtendedOperation.result()``, whose poller would otherwise talk to the default endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from google.api_core import exceptions as google_errors

from clouds.base import CloudResource, Problem, ProvisionRequest
from clouds.errors import (
    AuthenticationFailed,
    CloudError,
    InvalidStateTransition,
    ResourceNotFound,
    Throttled,
    UnsupportedRequest,
)
from clouds.gcp.retry import Retrying, busy_retry

TOKEN_LABEL = "wedcloud-operation"  # noqa: S105 - a label key: the operation that made a resource
# Label keys hold no ':', so WedCloud's own tags (wedcloud:deployment, wedcloud:deployment-version
# ...) are labels wedcloud-deployment, wedcloud-deployment-version ...; read back as tags again
WEDCLOUD_TAG, WEDCLOUD_LABEL = "wedcloud:", "wedcloud-"
LABEL_LIMIT, MAX_LABELS = 63, 64
LABEL_KEY_RULE = (
    "a Google Cloud label key is 1-63 lowercase letters, digits, '_' and '-', starting with a letter "
    "(a tag wedcloud:<name> is stored as the label wedcloud-<name>)"
)
LABEL_VALUE_RULE = "a Google Cloud label value is at most 63 lowercase letters, digits, '_' and '-'"
_ID = re.compile(
    r"projects/(?P<project>[^/]+)/zones/(?P<zone>[^/]+)/(?P<collection>instances|disks|instanceGroupManagers)"
    r"/(?P<name>[^/]+)$"
)
_ADDRESS_ID = re.compile(r"projects/(?P<project>[^/]+)/regions/(?P<region>[^/]+)/addresses/(?P<name>[^/]+)$")
_BUCKET_ID = re.compile(r"projects/_/buckets/(?P<name>[^/]+)$")
GCE_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
GCE_NAME_RULE = "is 1-63 lowercase letters, digits and dashes, starting with a letter and not ending with a dash"
NOUNS = {
    "instances": "an instance",
    "disks": "a volume",
    "instanceGroupManagers": "an instance group",
    "addresses": "an address",
    "bucket": "a bucket",
}


def translate(exc: Exception, resource_id: str | None = None) -> CloudError:
    """The :mod:`clouds.errors` error for a Google API error."""
    from google.auth.exceptions import GoogleAuthError

    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, GoogleAuthError):
        return AuthenticationFailed(f"Google refused the credentials: {message}")
    if isinstance(exc, google_errors.NotFound) and resource_id:
        return ResourceNotFound(resource_id)
    if isinstance(exc, google_errors.Forbidden | google_errors.Unauthorized | google_errors.PermissionDenied):
        return AuthenticationFailed(message)
    if isinstance(exc, google_errors.NotFound):
        return AuthenticationFailed(f"the project cannot be found: {message}")
    if isinstance(exc, google_errors.TooManyRequests | google_errors.ServiceUnavailable):
        return Throttled(f"Google Cloud is busy: {message}")
    if isinstance(exc, google_errors.BadRequest) and "must be stopped" in message:
        return InvalidStateTransition(resource_id or "", "running", "change the machine type of")
    return UnsupportedRequest(message)


def label_value(text: str) -> str:
    """A string as a GCE label value: lowercase letters, digits, - and _, at most 63."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def collection_of(resource_id: str) -> str:
    """What an id names: ``bucket``, ``addresses`` or a zonal collection (``instances``, ``disks``, ...)."""
    if _BUCKET_ID.search(resource_id):
        return "bucket"
    if _ADDRESS_ID.search(resource_id):
        return "addresses"
    found = _ID.search(resource_id)
    if found is None:
        raise ResourceNotFound(resource_id)
    return found["collection"]


def zonal_parts(resource_id: str, collection: str = "instances") -> tuple[str, str, str]:
    found = _ID.search(resource_id)
    if found is None or found["collection"] != collection:
        raise ResourceNotFound(resource_id)
    return found["project"], found["zone"], found["name"]


def address_parts(resource_id: str) -> tuple[str, str, str]:
    found = _ADDRESS_ID.search(resource_id)
    if found is None:
        raise ResourceNotFound(resource_id)
    return found["project"], found["region"], found["name"]


def bucket_name(resource_id: str) -> str:
    found = _BUCKET_ID.search(resource_id)
    if found is None:
        raise ResourceNotFound(resource_id)
    return found["name"]


def last(url: str) -> str:
    return str(url).rsplit("/", 1)[-1]


def created(timestamp: str) -> datetime | None:
    """GCE's RFC 3339 timestamp (in the zone's offset) in UTC."""
    return datetime.fromisoformat(timestamp).astimezone(UTC) if timestamp else None


def since(timestamp: str) -> dict[str, datetime]:
    """``details["state_since"]`` from one of GCE's timestamps; absent when GCE gives none."""
    moment = created(timestamp)
    return {} if moment is None else {"state_since": moment}


def _label_text(text: str, *, key: bool) -> bool:
    """Whether ``text`` is a label key (``key``) or value as Google allows them."""
    if len(text) > LABEL_LIMIT or (key and not text):
        return False
    if key and not (text[0].isalpha() and not text[0].isupper()):
        return False
    return all(
        c in "-_"
        or (c.isascii() and (c.isdigit() or c.islower()))
        or (not c.isascii() and c.isalpha() and not c.isupper())
        for c in text
    )


def label_key(tag: str) -> str:
    """The label key of a tag key: ``wedcloud:<name>`` is ``wedcloud-<name>``, the rest unchanged."""
    return WEDCLOUD_LABEL + tag.removeprefix(WEDCLOUD_TAG) if tag.startswith(WEDCLOUD_TAG) else tag


def tag_key(label: str) -> str:
    """The tag key of a label key (the inverse of :func:`label_key`)."""
    return WEDCLOUD_TAG + label.removeprefix(WEDCLOUD_LABEL) if label.startswith(WEDCLOUD_LABEL) else label


def label_problems(tags: Mapping[str, str]) -> list[Problem]:
    """Why ``tags`` cannot be a resource's labels (Google's label rules), one problem per tag."""
    problems: list[Problem] = []
    if len(tags) > MAX_LABELS - 1:  # one label is the operation's token
        problems.append(("tags", f"Google Cloud holds at most {MAX_LABELS - 1} tags (labels) on a resource"))
    for tag, value in tags.items():
        key = label_key(tag)
        if key == TOKEN_LABEL:
            problems.append(("tags", f"tag {tag!r} is WedCloud's own (the operation that made the resource)"))
        elif not _label_text(key, key=True):
            problems.append(("tags", f"tag {tag!r}: {LABEL_KEY_RULE}"))
        elif not _label_text(str(value), key=False):
            problems.append(("tags", f"tag {tag!r} = {value!r}: {LABEL_VALUE_RULE}"))
    return problems


def labels_of(tags: Mapping[str, str]) -> dict[str, str]:
    """``tags`` as labels (:func:`label_key`); UnsupportedRequest when Google would refuse them."""
    if problems := label_problems(tags):
        raise UnsupportedRequest("; ".join(f"{field}: {message}" for field, message in problems))
    return {label_key(tag): str(value) for tag, value in tags.items()}


def user_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """A resource's labels as tags: without the operation's token, ``wedcloud-`` keys as ``wedcloud:``."""
    return {tag_key(k): v for k, v in labels.items() if k != TOKEN_LABEL}


def with_token(tags: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str]:
    """New labels for a resource: ``tags``, keeping the label of the operation that made it."""
    labels = labels_of(tags)
    if TOKEN_LABEL in current:
        labels[TOKEN_LABEL] = current[TOKEN_LABEL]
    return labels


def request_labels(request: ProvisionRequest) -> dict[str, str]:
    labels = labels_of(request.tags)
    if request.options.get("client_token"):
        labels[TOKEN_LABEL] = label_value(str(request.options["client_token"]))
    return labels


def zone_of(request: ProvisionRequest) -> str:
    return str(request.options.get("zone") or f"{request.region}-b")


def zonal_problems(request: ProvisionRequest, noun: str) -> list[Problem]:
    """What a zonal resource (an instance or a volume) needs before anything is sent."""
    problems: list[Problem] = []
    if not GCE_NAME.fullmatch(request.name):
        problems.append(("name", f"{noun} name {GCE_NAME_RULE}"))
    if not zone_of(request).startswith(f"{request.region}-"):
        problems.append(("options", f"options.zone must be a zone of {request.region}, such as {request.region}-b"))
    return problems


class GcpApi:
    """One project's clients, every one pointed at the same endpoint, and what the parts do with them."""

    def __init__(self, credentials: Any, *, project: str, endpoint_url: str | None, backoff: float = 1.0) -> None:
        """``backoff``: seconds before the first retry of a call Google was too busy for (429, 503)."""
        from google.api_core.client_options import ClientOptions
        from google.cloud import compute_v1

        self.project = project
        self.endpoint_url = endpoint_url
        self.credentials = credentials
        self.backoff = backoff
        self.retry = busy_retry(backoff)
        options = ClientOptions(api_endpoint=endpoint_url) if endpoint_url else None
        common: dict[str, Any] = {"credentials": credentials, "transport": "rest", "client_options": options}

        def client(kind: Any) -> Any:
            return Retrying(kind(**common), self.retry)

        self.instances = client(compute_v1.InstancesClient)
        self.disks = client(compute_v1.DisksClient)
        self.groups = client(compute_v1.InstanceGroupManagersClient)
        self.autoscalers = client(compute_v1.AutoscalersClient)
        self.zone_operations = client(compute_v1.ZoneOperationsClient)
        self.addresses = client(compute_v1.AddressesClient)
        self.region_operations = client(compute_v1.RegionOperationsClient)
        self.regions_client = client(compute_v1.RegionsClient)
        self.snapshots = client(compute_v1.SnapshotsClient)
        self.global_operations = client(compute_v1.GlobalOperationsClient)
        self.projects = client(compute_v1.ProjectsClient)
        self.networks = client(compute_v1.NetworksClient)
        self.subnetworks = client(compute_v1.SubnetworksClient)
        self.firewalls = client(compute_v1.FirewallsClient)
        self.routes = client(compute_v1.RoutesClient)
        self.compute_v1 = compute_v1
        # each zonal collection's client and the keyword its methods name a resource by
        self.zonal: dict[str, tuple[Any, str]] = {
            "instances": (self.instances, "instance"),
            "disks": (self.disks, "disk"),
            "instanceGroupManagers": (self.groups, "instance_group_manager"),
        }

    @cached_property
    def storage(self) -> Any:
        """The Cloud Storage client (JSON API), made when first used."""
        from google.cloud.storage import Client

        options = {"api_endpoint": self.endpoint_url} if self.endpoint_url else None
        return Retrying(Client(project=self.project, credentials=self.credentials, client_options=options), self.retry)

    def zonal_id(self, zone: str, name: str, collection: str = "instances") -> str:
        return f"projects/{self.project}/zones/{zone}/{collection}/{name}"

    def wait(self, operation: Any, resource_id: str) -> None:
        """Wait on a zone, region or global operation to its end (``wait`` returns early on long ones:
        ask again)."""
        client: Any = self.global_operations
        scope: dict[str, Any] = {}
        if operation.zone:
            client, scope = self.zone_operations, {"zone": last(operation.zone)}
        elif operation.region:
            client, scope = self.region_operations, {"region": last(operation.region)}
        try:
            while operation.status != self.compute_v1.Operation.Status.DONE:
                operation = client.wait(project=self.project, operation=operation.name, **scope)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        if operation.error and operation.error.errors:
            first = operation.error.errors[0]
            raise UnsupportedRequest(f"{first.code}: {first.message}")

    def call(self, resource_id: str, method: str, name_as: str | None = None, **arguments: Any) -> None:
        """Call a zonal resource's ``method`` (naming it by ``name_as`` where the API does) and wait."""
        collection = collection_of(resource_id)
        project, zone, name = zonal_parts(resource_id, collection)
        client, keyword = self.zonal[collection]
        try:
            # the _unary variants answer the zone operation itself, which ``wait`` polls
            operation = getattr(client, f"{method}_unary")(
                project=project, zone=zone, **{name_as or keyword: name}, **arguments
            )
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        self.wait(operation, resource_id)

    def get(self, resource_id: str) -> Any:
        """A zonal resource as the SDK answers it."""
        collection = collection_of(resource_id)
        project, zone, name = zonal_parts(resource_id, collection)
        client, keyword = self.zonal[collection]
        try:
            return client.get(project=project, zone=zone, **{keyword: name})
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc

    def aggregated(self, client: Any, field: str) -> Iterator[Any]:
        """Every resource of a zonal collection, across zones and pages."""
        for _scope, scoped in client.aggregated_list(request={"project": self.project, "max_results": 500}):
            yield from getattr(scoped, field)

    def retried(
        self,
        resource_id: str,
        token: Any,
        labels: Mapping[str, str],
        taken: str,
        describe: Callable[[str], CloudResource],
    ) -> CloudResource:
        """The resource a name conflict found, when this operation (``token``) made it before."""
        if token and labels.get(TOKEN_LABEL) == label_value(str(token)):
            return describe(resource_id)  # a retry, not a second resource
        raise UnsupportedRequest(taken)

    def insert(
        self, resource_id: str, body: Mapping[str, Any], token: Any, describe: Callable[[str], CloudResource]
    ) -> CloudResource:
        """Insert a zonal resource, wait, and ``describe`` it."""
        collection = collection_of(resource_id)
        project, zone, name = zonal_parts(resource_id, collection)
        client, _ = self.zonal[collection]
        try:
            operation = client.insert_unary(project=project, zone=zone, **body)
        except google_errors.Conflict:
            taken = f"{NOUNS[collection]} named {name!r} already exists in {zone}"
            return self.retried(resource_id, token, self.get(resource_id).labels, taken, describe)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc, resource_id) from exc
        self.wait(operation, resource_id)
        return describe(resource_id)
