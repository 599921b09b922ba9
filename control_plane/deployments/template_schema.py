"""The JSON Schema (draft 2020-12) of a deployment template, published at
``GET /api/cloud/deployments/schema``. ``template.render`` checks the same rules and more (the
references, the providers, their regions and rules), each problem with its JSON pointer."""

from __future__ import annotations

from typing import Any

from control_plane.deployments.spec import ATTRIBUTES, ON_FAILURE, RETAIN, TYPES
from control_plane.deployments.template_params import PARAMETER_TYPES

NAME_PATTERN = "^[a-z][a-z0-9_-]{0,62}$"
PARAMETER_REFERENCE = r"^\$\{parameters\.[A-Za-z_][A-Za-z0-9_]*\}$"

EXAMPLE: dict[str, Any] = {  # the booking stack, as the schema's and the API's example
    "description": "The wedding booking stack",
    "on_failure": "rollback",
    "parameters": {
        "env": {"type": "string", "default": "prod", "allowed": ["prod", "staging", "dev"]},
        "web_size": {"type": "string", "default": "t3.medium"},
        "web_count": {"type": "integer", "default": 2, "minimum": 1, "maximum": 20},
    },
    "resources": {
        "db": {
            "provider": "sandbox-aws", "type": "database", "region": "us-east-1", "size": "db.m5.large",
            "tags": {"env": "${parameters.env}", "app": "booking"},
            "options": {"engine": "postgres", "storage_gb": 20}, "retain": "snapshot",
        },
        "web": {
            "provider": "sandbox-aws", "type": "instance_group", "size": "${parameters.web_size}",
            "depends_on": ["db"], "options": {"min": 1, "max": 10, "desired": "${parameters.web_count}"},
            "tags": {"env": "${parameters.env}", "db_endpoint": "${resources.db.endpoint}"},
        },
    },
    "outputs": {"db_endpoint": "${resources.db.endpoint}"},
}  # fmt: skip


def _or_parameter(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, or exactly one ``${parameters.x}`` (which takes the parameter's value)."""
    return {"anyOf": [schema, {"$ref": "#/$defs/parameter_reference"}]}


SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://wedcloud.dev/schemas/deployment-template.json",
    "title": "WedCloud deployment template",
    "description": (
        "A stack of cloud resources, possibly across clouds, with typed parameters and outputs. Text may "
        "hold ${parameters.<name>} anywhere, and ${resources.<name>.<attribute>} in tags, options, image, "
        "network and outputs (attributes: " + ", ".join(ATTRIBUTES) + "); a resource reference makes the "
        "resource depend on the one it names. A value that is exactly one ${parameters.<name>} keeps the "
        "parameter's type."
    ),
    "type": "object",
    "additionalProperties": False,
    "required": ["resources"],
    "properties": {
        "description": {"type": "string", "description": "What the stack is for."},
        "on_failure": {
            "enum": list(ON_FAILURE), "default": "rollback",
            "description": "What a failed apply does: undo its finished steps (rollback) or keep them (pause).",
        },
        "parameters": {
            "type": "object", "description": "Parameter name -> declaration.",
            "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]{0,62}$"},
            "additionalProperties": {"$ref": "#/$defs/parameter"},
        },
        "resources": {
            "type": "object", "minProperties": 1,
            "description": "Logical name -> resource. The cloud name is '<deployment>-<logical name>'.",
            "propertyNames": {"pattern": NAME_PATTERN},
            "additionalProperties": {"$ref": "#/$defs/resource"},
        },
        "outputs": {
            "type": "object", "description": "Output name -> text, usually a resource reference.",
            "additionalProperties": {"type": "string"},
        },
    },
    "$defs": {
        "parameter_reference": {
            "type": "string", "pattern": PARAMETER_REFERENCE,
            "description": "Exactly one ${parameters.<name>}: the value of that parameter, with its type.",
        },
        "parameter": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "type": {"enum": list(PARAMETER_TYPES), "default": "string"},
                "description": {"type": "string"},
                "default": {"type": ["string", "number", "boolean"], "description": "Used when no value is given; "
                            "without a default the parameter is required."},
                "allowed": {"type": "array", "minItems": 1, "items": {"type": ["string", "number", "boolean"]}},
                "minimum": {"type": "number", "description": "Integer and number parameters only."},
                "maximum": {"type": "number", "description": "Integer and number parameters only."},
            },
        },
        "resource": {
            "type": "object",
            "additionalProperties": False,
            "required": ["provider", "type", "size"],
            "properties": {
                "provider": {"type": "string", "description": "A registered provider's name or id."},
                "type": _or_parameter({"enum": list(TYPES)}),
                "region": {"type": "string", "description": "Default: the provider's default region."},
                "size": {
                    "type": "string",
                    "description": "instance, instance_group: an instance type from the provider's catalogue; "
                    "database: a database class (db.m5.large); volume: a number of GB ('100GB'); "
                    "bucket: its storage class (AWS: STANDARD) or '0GB' on the sandbox.",
                },
                "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                "options": {
                    "type": "object",
                    "description": "What the provider needs beyond the size: instance_group min, max, desired; "
                    "database engine, storage_gb; bucket expected_gb (for the estimate); and the "
                    "provider's own (launch_template, volume_type, ...).",
                },
                "image": {"type": "string"},
                "network": {"type": "string"},
                "depends_on": {
                    "type": "array", "uniqueItems": True, "items": {"type": "string"},
                    "description": "Logical names made before this one (references add to them).",
                },
                "protected": _or_parameter({"type": "boolean", "default": False}),
                "retain": _or_parameter({
                    "enum": list(RETAIN), "default": "delete",
                    "description": "What deleting it does with its data: a database or volume with "
                    "'snapshot' is snapshotted first.",
                }),
            },
        },
    },
    "examples": [EXAMPLE],
}  # fmt: skip
