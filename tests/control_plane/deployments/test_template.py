"""Rendering templates against a real sandbox world's providers, on SQLite and PostgreSQL: the
shipped examples render cleanly, defaults and typed references apply, resources come in
dependency order, and every kind of mistake is reported with the JSON pointer of its field."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from control_plane.crypto import Cipher
from control_plane.deployments.spec import DesiredResource, Rendered, TemplateProblem
from control_plane.deployments.template import cloud_name, render
from control_plane.services.providers import create_cloud_provider
from tests.control_plane.deployments import SandboxWorld, sandbox_world, shipped


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> SandboxWorld:
    return sandbox_world(engine, tmp_path)


def stack() -> dict[str, Any]:
    """A small valid template: a database and a web group that reads its endpoint."""
    return {
        "parameters": {
            "env": {"type": "string", "default": "prod", "allowed": ["prod", "dev"]},
            "web_count": {"type": "integer", "default": 2, "minimum": 1, "maximum": 5},
        },
        "resources": {
            "db": {"provider": "sandbox-aws", "type": "database", "size": "db.m5.large",
                   "options": {"engine": "postgres"}, "retain": "snapshot"},
            "web": {"provider": "sandbox-aws", "type": "instance_group", "size": "t3.medium",
                    "options": {"min": 1, "max": 5, "desired": "${parameters.web_count}"},
                    "tags": {"env": "${parameters.env}", "db": "${resources.db.endpoint}"}},
        },
        "outputs": {"db": "${resources.db.endpoint}"},
    }  # fmt: skip


def rendered(world: SandboxWorld, document: dict[str, Any], parameters: dict[str, Any] | None = None,
             **extra: Any) -> tuple[Rendered | None, list[TemplateProblem]]:  # fmt: skip
    with world.sessions() as session:
        return render(session, document=document, parameters=parameters or {}, **extra)


def ok(world: SandboxWorld, document: dict[str, Any], parameters: dict[str, Any] | None = None) -> Rendered:
    result, problems = rendered(world, document, parameters)
    assert problems == []
    assert result is not None
    return result


def test_the_booking_stack_renders_in_dependency_order_with_its_defaults(world: SandboxWorld) -> None:
    result = ok(world, shipped("booking-stack.yaml"))
    with world.sessions() as session:
        provider = world.provider(session, "sandbox-aws")
    assert list(result.resources) == ["db", "web", "uploads"]
    assert result.parameters == {"env": "prod", "web_size": "t3.medium", "web_count": 2}
    assert result.environment == "prod"
    assert result.on_failure == "rollback"
    web = result.resources["web"]
    assert (web.provider_id, web.provider_kind, web.type, web.region) == (provider.id, "sandbox", "instance_group",
                                                                          "us-east-1")  # fmt: skip
    assert web.size == "t3.medium"
    assert web.options["desired"] == 2
    assert web.depends_on == ("db",)
    assert web.pending == {"tags.db_endpoint": "${resources.db.endpoint}"}
    assert result.resources["db"].retain == "snapshot"
    assert result.resources["uploads"].depends_on == ("web",)
    assert result.outputs["db_endpoint"] == "${resources.db.endpoint}"
    assert result.estimates == {}


def test_the_cross_cloud_pair_renders_with_its_standby_on_the_gcp_provider(world: SandboxWorld) -> None:
    result = ok(world, shipped("cross-cloud.yaml"), {"env": "staging"})
    with world.sessions() as session:
        aws, gcp = world.provider(session, "sandbox-aws"), world.provider(session, "sandbox-gcp")
    assert list(result.resources) == ["primary_db", "primary_web", "standby", "standby_disk"]
    assert {name: r.provider_id for name, r in result.resources.items()} == {
        "primary_db": aws.id, "primary_web": aws.id, "standby": gcp.id, "standby_disk": gcp.id,
    }  # fmt: skip
    standby = result.resources["standby"]
    assert (standby.region, standby.size, standby.tags["env"]) == ("europe-west2", "e2-small", "staging")
    assert standby.depends_on == ("primary_db",)
    assert set(standby.pending) == {"tags.primary_db", "tags.primary_region"}
    assert result.environment == "staging"


def test_given_parameters_replace_defaults_and_a_lone_reference_keeps_its_type(world: SandboxWorld) -> None:
    document = stack()
    document["parameters"]["keep"] = {"type": "boolean", "default": False}
    document["resources"]["db"]["protected"] = "${parameters.keep}"
    document["resources"]["web"]["tags"]["label"] = "web x${parameters.web_count} in ${parameters.env}"
    result = ok(world, document, {"web_count": 4, "env": "dev", "keep": True})
    assert result.parameters == {"env": "dev", "web_count": 4, "keep": True}
    assert result.resources["web"].options["desired"] == 4  # an integer, not "4"
    assert result.resources["db"].protected is True
    assert result.resources["web"].tags["label"] == "web x4 in dev"
    defaults = ok(world, stack())
    assert defaults.resources["web"].options["desired"] == 2
    assert defaults.resources["web"].tags["env"] == "prod"


def test_resources_come_after_their_dependencies_with_ties_broken_by_name(world: SandboxWorld) -> None:
    def disk(**extra: Any) -> dict[str, Any]:
        return {"provider": "sandbox-aws", "type": "volume", "size": "10GB", **extra}

    document = {"resources": {
        "zeta": disk(), "cache": disk(depends_on=["zeta"]), "alpha": disk(tags={"z": "${resources.zeta.id}"}),
        "beta": disk(), "app": disk(depends_on=["cache", "beta"]),
    }}  # fmt: skip
    result = ok(world, document)
    assert list(result.resources) == ["beta", "zeta", "alpha", "cache", "app"]
    assert result.resources["app"].depends_on == ("beta", "cache")
    assert result.resources["alpha"].depends_on == ("zeta",)


def test_a_cycle_is_reported_at_each_resource_in_it_with_the_path(world: SandboxWorld) -> None:
    document = stack()
    resources = document["resources"]
    resources["db"]["depends_on"] = ["cache"]
    resources["cache"] = {"provider": "sandbox-aws", "type": "instance", "size": "t3.micro",
                          "tags": {"web": "${resources.web.name}"}}  # fmt: skip
    resources["lone"] = {"provider": "sandbox-aws", "type": "volume", "size": "5GB", "depends_on": ["db"]}
    result, problems = rendered(world, document)
    assert result is None
    cycle = "cache -> web -> db -> cache"
    assert sorted(problems, key=lambda p: p.pointer) == [
        TemplateProblem(f"/template/resources/{name}", f"dependency cycle: {cycle}") for name in ("cache", "db", "web")
    ]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit of the template: put ``value`` at the dotted ``path`` (created as needed)."""

    def edit(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = document
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return edit


def _unchanged(document: dict[str, Any]) -> None:
    return None


# (edit, parameters, the pointer, a fragment of its message)
MISTAKES: dict[str, tuple[Callable[[dict[str, Any]], None], dict[str, Any], str, str]] = {
    "unknown type": (_set("resources.web.type", "lambda"), {}, "/template/resources/web/type", "unknown type 'lambda'"),
    "missing reference": (_set("resources.web.tags.db", "${resources.cache.endpoint}"), {},
                          "/template/resources/web/tags/db", "names no resource"),
    "unknown attribute": (_set("resources.web.tags.db", "${resources.db.password}"), {},
                          "/template/resources/web/tags/db", "'password' is not an attribute"),
    "missing reference in an output": (_set("outputs.db", "${resources.nope.id}"), {}, "/template/outputs/db",
                                       "names no resource"),
    "resource reference in size": (_set("resources.web.size", "${resources.db.size}"), {},
                                   "/template/resources/web/size", "allowed in tags, options, image, network"),
    "self reference": (_set("resources.db.tags.me", "${resources.db.id}"), {}, "/template/resources/db/tags/me",
                       "cannot refer to itself"),
    "unknown depends_on": (_set("resources.web.depends_on", ["cache"]), {}, "/template/resources/web/depends_on/0",
                           "names no resource"),
    "depends_on itself": (_set("resources.web.depends_on", ["web"]), {}, "/template/resources/web/depends_on/0",
                          "cannot depend on itself"),
    "depends_on twice": (_set("resources.web.depends_on", ["db", "db"]), {}, "/template/resources/web/depends_on/1",
                         "'db' is listed twice"),
    "undeclared parameter": (_set("resources.web.tags.region", "${parameters.region}"), {},
                             "/template/resources/web/tags/region", "names no declared parameter"),
    "not a reference": (_set("resources.web.tags.x", "${secrets.key}"), {}, "/template/resources/web/tags/x",
                        "is not a reference"),
    "bad parameter type": (_unchanged, {"web_count": "three"}, "/parameters/web_count", "a whole number"),
    "value not allowed": (_unchanged, {"env": "qa"}, "/parameters/env", "'qa' is not allowed"),
    "below the minimum": (_unchanged, {"web_count": 0}, "/parameters/web_count", "below the minimum 1"),
    "unknown parameter": (_unchanged, {"colour": "blue"}, "/parameters/colour", "declares no parameter 'colour'"),
    "missing required parameter": (_set("parameters.owner", {"type": "string"}), {}, "/parameters/owner", "required"),
    "default of the wrong type": (_set("parameters.web_count.default", "two"), {},
                                  "/template/parameters/web_count/default", "a whole number"),
    "unknown parameter type": (_set("parameters.env.type", "list"), {}, "/template/parameters/env/type",
                               "one of string, integer, number, boolean"),
    "unknown provider": (_set("resources.db.provider", "aws-nowhere"), {}, "/template/resources/db/provider",
                         "no registered provider is named 'aws-nowhere'"),
    "region of another provider": (_set("resources.db.region", "europe-west2"), {}, "/template/resources/db/region",
                                   "not a region of provider 'sandbox-aws'"),
    "unknown top-level key": (_set("variables", {}), {}, "/template/variables", "unknown key"),
    "unknown resource key": (_set("resources.web.count", 3), {}, "/template/resources/web/count", "unknown key"),
    "bad resource name": (_set("resources.Web", {"provider": "sandbox-aws", "type": "volume", "size": "1GB"}), {},
                          "/template/resources/Web", "a resource name is a lowercase letter"),
    "missing size": (_set("resources.web.size", None), {}, "/template/resources/web/size", "non-empty text"),
    "snapshot of an instance group": (_set("resources.web.retain", "snapshot"), {}, "/template/resources/web/retain",
                                      "only a database or a volume"),
    "desired outside min..max": (_set("resources.web.options.desired", 9), {},
                                 "/template/resources/web/options/desired", "outside min..max (1..5)"),
    "group bounds not integers": (_set("resources.web.options.min", "one"), {}, "/template/resources/web/options",
                                  "integer options.min <= options.max"),
    "volume size not in GB": (_set("resources.disk", {"provider": "sandbox-aws", "type": "volume", "size": "lots"}),
                              {}, "/template/resources/disk/size", "a number of GB"),
    "tag value not text": (_set("resources.web.tags.team/owner", 5), {}, "/template/resources/web/tags/team~1owner",
                           "a tag's value is text"),
    "bad on_failure": (_set("on_failure", "retry"), {}, "/template/on_failure", "one of rollback, pause"),
    "protected not a boolean": (_set("resources.db.protected", "yes"), {}, "/template/resources/db/protected",
                                "true or false"),
}  # fmt: skip


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_each_mistake_is_reported_at_the_pointer_of_its_field(world: SandboxWorld, mistake: str) -> None:
    edit, parameters, pointer, fragment = MISTAKES[mistake]
    document = copy.deepcopy(stack())
    edit(document)
    result, problems = rendered(world, document, parameters)
    assert result is None
    assert [p.pointer for p in problems] == [pointer], problems
    assert fragment in problems[0].message


def test_every_problem_is_listed_not_only_the_first(world: SandboxWorld) -> None:
    document = stack()
    document["resources"]["web"]["type"] = "lambda"
    document["resources"]["db"]["region"] = "mars-1"
    document["outputs"]["web"] = "${resources.web.colour}"
    result, problems = rendered(world, document, {"env": "qa", "extra": 1})
    assert result is None
    assert sorted(p.pointer for p in problems) == [
        "/parameters/env", "/parameters/extra", "/template/outputs/web", "/template/resources/db/region",
        "/template/resources/web/type",
    ]  # fmt: skip


def test_a_provider_is_found_by_id_as_well_as_by_name(world: SandboxWorld) -> None:
    with world.sessions() as session:
        gcp = world.provider(session, "sandbox-gcp")
    document = {"resources": {"disk": {"provider": str(gcp.id), "type": "volume", "size": "20GB"}}}
    result = ok(world, document)
    assert result.resources["disk"].provider_id == gcp.id
    assert result.resources["disk"].region == gcp.default_region  # the provider's default


def test_the_providers_own_rules_point_at_the_field_they_refuse(world: SandboxWorld) -> None:
    with world.sessions() as session, session.begin():
        create_cloud_provider(session, Cipher(secrets.token_bytes(32)), kind="aws", name="aws-prod",
                              default_region="eu-west-2")  # fmt: skip
    document = {"resources": {
        "db": {"provider": "aws-prod", "type": "database", "size": "t3.medium", "options": {"engine": "oracle"}},
        "uploads": {"provider": "aws-prod", "type": "bucket", "size": "0GB"},
        "ab": {"provider": "aws-prod", "type": "bucket", "size": "STANDARD"},
    }}  # fmt: skip
    result, problems = rendered(world, document)
    assert result is None
    found = {(p.pointer, p.message.split(":")[0]) for p in problems}
    assert found == {
        ("/template/resources/db/size", "aws-prod"), ("/template/resources/db/options", "aws-prod"),
        ("/template/resources/uploads/size", "aws-prod"), ("/template/resources/ab", "aws-prod"),
    }  # fmt: skip
    # with the deployment's name the bucket's cloud name is long enough for S3
    named, problems = rendered(world, {"resources": {"ab": document["resources"]["ab"]}}, deployment_name="shop")
    assert problems == []
    assert named is not None


def test_the_environment_comes_from_a_parameter_else_a_tag_common_to_every_resource(world: SandboxWorld) -> None:
    assert ok(world, stack(), {"env": "dev"}).environment == "dev"
    document = stack()
    del document["parameters"]["env"]
    document["resources"]["web"]["tags"] = {"env": "qa"}
    document["resources"]["db"]["tags"] = {"env": "qa"}
    assert ok(world, document).environment == "qa"
    document["resources"]["db"]["tags"] = {"env": "prod"}
    assert ok(world, document).environment is None


def test_cloud_names_prefix_the_deployment_and_fit_the_clouds_rules() -> None:
    assert cloud_name("wedding", "web_tier") == "wedding-web-tier"
    assert cloud_name(None, "Web_Tier") == "web-tier"
    long = cloud_name("d" * 60, "database")
    assert len(long) == 63
    assert long.startswith("d" * 60 + "-")
    assert not cloud_name("d" * 62, "x").endswith("-")


def test_a_rendered_resource_knows_its_resource_type_and_subtype(world: SandboxWorld) -> None:
    result = ok(world, shipped("booking-stack.yaml"))
    kinds = {name: (r.resource_type.value, r.subtype) for name, r in result.resources.items()}
    assert kinds == {"db": ("database", "database"), "web": ("compute", "instance_group"),
                     "uploads": ("storage", "bucket")}  # fmt: skip
    assert all(isinstance(r, DesiredResource) for r in result.resources.values())


def test_a_tag_in_wedclouds_own_namespace_is_refused(world: SandboxWorld) -> None:
    web = {"provider": "sandbox-aws", "type": "instance", "region": "us-east-1", "size": "t3.medium",
           "tags": {"wedcloud:deployment": "someone-else"}}  # fmt: skip
    document = {"resources": {"web": web}}
    with world.sessions() as session:
        found, problems = render(session, document=document, parameters={})
    assert found is None
    assert [p.pointer for p in problems] == ["/template/resources/web/tags/wedcloud:deployment"]
