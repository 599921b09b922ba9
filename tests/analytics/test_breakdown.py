"""Cost breakdowns on a small warehouse built in the test: groups, top N and other, tags and
untagged, granularity, filters, currencies kept apart, and refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from analytics.breakdown import BreakdownQuery, InvalidBreakdown, breakdown, rounding_gaps, to_csv
from analytics.overview import Queryable
from analytics.warehouse import ensure_schema

# (day, provider, service, region, resource, pricing, currency, tags, billed)
LINES = [
    ("2026-11-02", "AWS", "Amazon EC2", "eu-west-2", "i-1", "Standard", "USD", {"team": "bookings"}, "100.005"),
    ("2026-11-02", "AWS", "Amazon EC2", "eu-west-2", "i-2", "Committed", "USD", {"team": "search"}, "50"),
    ("2026-11-03", "AWS", "Amazon S3", "eu-west-2", "photos", "Standard", "USD", {}, "20"),
    ("2026-11-09", "AWS", "Amazon RDS", "us-east-1", "db-1", "Standard", "USD", {"team": "bookings"}, "10"),
    ("2026-11-10", "AWS", "AWS Lambda", "us-east-1", "fn-1", "Standard", "USD", {"team": "photos"}, "5"),
    ("2026-11-03", "Microsoft", "Virtual Machines", "uksouth", "vm-1", "Standard", "GBP", {"team": "bookings"}, "70"),
    ("2026-10-30", "AWS", "Amazon EC2", "eu-west-2", "i-1", "Standard", "USD", {"team": "bookings"}, "999"),
]


@pytest.fixture
def query() -> Iterator[Queryable]:
    with duckdb.connect() as con:
        ensure_schema(con)
        for day, provider, service, region, resource, pricing, currency, tags, billed in LINES:
            amount = Decimal(billed)
            con.execute(
                "INSERT INTO cost_detail_daily VALUES (?, ?, 'acct', NULL, 'Compute', ?, ?, ?, 'VM', 'Usage', ?, ?, ?, "
                "?, ?, ?, 1, 'src', NULL)",
                [date.fromisoformat(day), provider, service, region, resource, pricing, currency, json.dumps(tags),
                 amount, amount * Decimal("0.9"), amount * Decimal("1.2")],
            )  # fmt: skip
        con.execute(
            "INSERT INTO cost_daily SELECT ChargeDate, ProviderName, BillingAccountId, SubAccountId, ServiceCategory, "
            "ServiceName, RegionId, ChargeCategory, BillingCurrency, sum(BilledCost), sum(EffectiveCost), "
            "sum(ListCost), sum(LineItems), x_SourceId, x_BillingMonth FROM cost_detail_daily GROUP BY ALL"
        )

        def run(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
            return con.execute(sql, params).fetchall()

        yield run


def _q(**fields: Any) -> BreakdownQuery:
    defaults: dict[str, Any] = {"group_by": ("service",), "start": date(2026, 11, 1), "end": date(2026, 11, 30)}
    return BreakdownQuery(**{**defaults, **fields})


def test_each_currency_is_grouped_and_totalled_on_its_own(query: Queryable) -> None:
    result = breakdown(query, _q())
    assert result.totals == {"GBP": Decimal(70), "USD": Decimal("185.005")}
    usd = [(g.key["service"], g.total) for g in result.groups if g.currency == "USD"]
    assert usd == [("Amazon EC2", Decimal("150.005")), ("Amazon S3", Decimal(20)), ("Amazon RDS", Decimal(10)),
                   ("AWS Lambda", Decimal(5))]  # fmt: skip
    assert [g.key["service"] for g in result.groups if g.currency == "GBP"] == ["Virtual Machines"]


def test_beyond_the_top_groups_the_rest_is_summed_as_other(query: Queryable) -> None:
    result = breakdown(query, _q(top=2, currency="USD"))
    assert [(g.kind, g.key["service"], g.total) for g in result.groups] == [
        ("group", "Amazon EC2", Decimal("150.005")), ("group", "Amazon S3", Decimal(20)),
        ("other", "other", Decimal(15)),
    ]  # fmt: skip
    assert sum(result.share(g) for g in result.groups) == Decimal("1.0000")


def test_grouping_by_a_tag_reports_the_untagged_cost_and_its_share(query: Queryable) -> None:
    result = breakdown(query, _q(group_by=("tag:team",), currency="USD"))
    assert [(g.kind, g.key["tag:team"], g.total) for g in result.groups] == [
        ("group", "bookings", Decimal("110.005")), ("group", "search", Decimal(50)), ("group", "photos", Decimal(5)),
        ("untagged", None, Decimal(20)),
    ]  # fmt: skip
    (untagged,) = [g for g in result.groups if g.kind == "untagged"]
    assert result.share(untagged) == Decimal("0.1081")  # 20 / 185.005


def test_two_dimensions_and_a_weekly_series(query: Queryable) -> None:
    result = breakdown(query, _q(group_by=("region", "pricing_category"), granularity="week", currency="USD"))
    first = result.groups[0]
    assert first.key == {"region": "eu-west-2", "pricing_category": "Standard"}
    assert first.series == {date(2026, 11, 2): Decimal("120.005")}  # weeks start on Monday
    lambda_week = next(g for g in result.groups if g.key["region"] == "us-east-1")
    assert lambda_week.series == {date(2026, 11, 9): Decimal(15)}


def test_filters_narrow_every_dimension_and_tags_by_value(query: Queryable) -> None:
    result = breakdown(query, _q(filters=(("region", ("eu-west-2",)), ("tag:team", ("bookings", "search")))))
    assert [(g.key["service"], g.total) for g in result.groups] == [("Amazon EC2", Decimal("150.005"))]
    assert breakdown(query, _q(metric="list", filters=(("provider", ("Microsoft",)),))).totals == {"GBP": Decimal(84)}


def test_the_range_is_inclusive_and_other_months_stay_out(query: Queryable) -> None:
    october = breakdown(query, _q(start=date(2026, 10, 30), end=date(2026, 10, 30)))
    assert october.totals == {"USD": Decimal(999)}


def test_the_csv_has_a_row_per_group_and_period(query: Queryable) -> None:
    result = breakdown(query, _q(group_by=("provider",), granularity="month", currency="USD"))
    assert to_csv(result).splitlines() == [
        "provider,kind,currency,period,amount,share",
        "AWS,group,USD,2026-11-01,185.01,1.0000",  # rounded to cents, half up
    ]


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"group_by": ("colour",)}, "group_by"),
        ({"group_by": ("service", "region", "provider")}, "group_by"),
        ({"group_by": ("service", "service")}, "group_by"),
        ({"start": date(2026, 12, 1)}, "start"),
        ({"metric": "amortised"}, "metric"),
        ({"granularity": "hour"}, "granularity"),
        ({"currency": "XYZ"}, "currency"),
        ({"top": 0}, "top"),
        ({"filters": (("colour", ("red",)),)}, "colour"),
    ],
)
def test_a_query_that_cannot_be_answered_names_its_parameter(
    query: Queryable, fields: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(InvalidBreakdown) as refused:
        breakdown(query, _q(**fields))
    assert [name for name, _ in refused.value.problems] == [parameter]


def test_a_tag_key_with_a_quote_or_backslash_is_refused_not_run(query: Queryable) -> None:
    for name in ('tag:a"b', "tag:a\\"):
        with pytest.raises(InvalidBreakdown):
            breakdown(query, _q(group_by=(name,)))


def test_a_provider_filter_matches_the_focus_provider_name_or_the_source(query: Queryable) -> None:
    by_name = breakdown(query, _q(filters=(("provider", ("Microsoft",)),)))
    assert by_name.totals == {"GBP": Decimal(70)}
    by_source = breakdown(query, _q(filters=(("provider", ("src",)),)))  # the registered provider's id
    assert by_source.totals == {"GBP": Decimal(70), "USD": Decimal("185.005")}
    assert breakdown(query, _q(filters=(("provider", ("Azure",)),))).totals == {}  # aliases are the API's job


@pytest.mark.parametrize(
    ("old", "new"), [("billed", "BilledCost"), ("effective", "EffectiveCost"), ("list", "ListCost")]
)
def test_a_metric_is_a_focus_column_and_its_old_spelling_still_reads_it(query: Queryable, old: str, new: str) -> None:
    assert breakdown(query, _q(metric=old)).totals == breakdown(query, _q(metric=new)).totals
    assert breakdown(query, _q(metric="EffectiveCost")).totals["GBP"] == Decimal(63)  # 70 x 0.9: its own column
    with pytest.raises(InvalidBreakdown, match="BilledCost, EffectiveCost, ListCost"):
        breakdown(query, _q(metric="AmortizedCost"))


def test_rounding_gaps_are_where_rows_rounded_on_their_own_miss_the_total_rounded_once() -> None:
    rows = [("USD", Decimal("0.005")), ("USD", Decimal("0.005")), ("GBP", Decimal("1.004")), ("GBP", Decimal("2.004"))]
    gaps = rounding_gaps(rows, {"USD": Decimal("0.010"), "GBP": Decimal("3.008"), "EUR": Decimal(0)})
    # USD: 0.01 + 0.01 = 0.02 against 0.01; GBP: 1.00 + 2.00 = 3.00 against 3.01; EUR: nothing, 0 = 0
    assert [(g.currency, g.rows_sum, g.total, g.difference) for g in gaps] == [
        ("GBP", Decimal("3.00"), Decimal("3.01"), Decimal("-0.01")),
        ("USD", Decimal("0.02"), Decimal("0.01"), Decimal("0.01")),
    ]
    assert rounding_gaps([("USD", Decimal("1.25"))], {"USD": Decimal("1.25")}) == []
