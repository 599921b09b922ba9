"""The Cloud Billing export table's schema, as Google documents it for the standard and the
detailed (resource-level) export, for creating export tables in bqemulator."""

from __future__ import annotations

from google.cloud.bigquery import SchemaField


def _record(name: str, *fields: SchemaField, repeated: bool = False) -> SchemaField:
    return SchemaField(name, "RECORD", mode="REPEATED" if repeated else "NULLABLE", fields=fields)


def _text(*names: str) -> list[SchemaField]:
    return [SchemaField(name, "STRING") for name in names]


KEY_VALUE = _text("key", "value")

EXPORT_SCHEMA = [
    SchemaField("billing_account_id", "STRING"),
    _record("service", *_text("id", "description")),
    _record("sku", *_text("id", "description")),
    SchemaField("usage_start_time", "TIMESTAMP"),
    SchemaField("usage_end_time", "TIMESTAMP"),
    _record(
        "project",
        *_text("id", "number", "name"),
        _record("labels", *KEY_VALUE, repeated=True),
        SchemaField("ancestry_numbers", "STRING"),
    ),
    _record("labels", *KEY_VALUE, repeated=True),
    _record("system_labels", *KEY_VALUE, repeated=True),
    _record("location", *_text("location", "country", "region", "zone")),
    _record("resource", *_text("name", "global_name")),
    _record("tags", *KEY_VALUE, SchemaField("inherited", "BOOLEAN"), SchemaField("namespace", "STRING"), repeated=True),
    SchemaField("export_time", "TIMESTAMP"),
    SchemaField("cost", "FLOAT"),
    SchemaField("cost_at_list", "FLOAT"),
    SchemaField("currency", "STRING"),
    SchemaField("currency_conversion_rate", "FLOAT"),
    _record(
        "usage",
        SchemaField("amount", "FLOAT"),
        SchemaField("unit", "STRING"),
        SchemaField("amount_in_pricing_units", "FLOAT"),
        SchemaField("pricing_unit", "STRING"),
    ),
    _record(
        "credits",
        SchemaField("name", "STRING"),
        SchemaField("amount", "FLOAT"),
        *_text("full_name", "id", "type"),
        repeated=True,
    ),
    _record("invoice", *_text("month", "publisher_type")),
    SchemaField("cost_type", "STRING"),
    _record("adjustment_info", *_text("id", "description", "mode", "type")),
    _record(
        "price",
        SchemaField("effective_price", "NUMERIC"),
        SchemaField("tier_start_amount", "NUMERIC"),
        SchemaField("unit", "STRING"),
        SchemaField("pricing_unit_quantity", "NUMERIC"),
    ),
    SchemaField("transaction_type", "STRING"),
    SchemaField("seller_name", "STRING"),
    _record("subscription", SchemaField("instance_id", "STRING")),
]
