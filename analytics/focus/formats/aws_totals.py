"""The AWS CUR's own figures for BilledCost and EffectiveCost, and why FOCUS may differ.

BilledCost is compared with the unblended cost of every line. On a complete bill each
SavingsPlanCoveredUsage line has a SavingsPlanNegation line that cancels its unblended cost,
and FOCUS bills covered usage at 0 and drops the negation; both come to the same total. A
partial extract (one account, a few hours) can hold one without the other: the unblended sum
then counts covered usage at its on-demand cost (or a negation with nothing to cancel), and
the difference is explained by those lines. A covered line and its negation are the same
usage: same account, resource, usage type and usage period (a negation need not repeat the
operation).

EffectiveCost is compared with AWS's amortised cost: the savings plan's effective cost for
covered usage, the reservation's effective cost for DiscountedUsage, the unused part of a
RIFee or SavingsPlanRecurringFee, 0 for upfront commitment fees and negations, the unblended
cost for everything else. DiscountedUsage whose reservation has no RIFee line in the file is
reported too: its EffectiveCost carries a fee that this file does not bill.
"""

from __future__ import annotations

from analytics.focus.formats.base import UnitMap
from analytics.focus.reconcile import Cause, SourceTotals

_PAIR = (
    "line_item_currency_code",
    "line_item_usage_account_id",
    "line_item_resource_id",
    "line_item_usage_type",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
)
_SP = "('SavingsPlanCoveredUsage', 'SavingsPlanNegation')"


def _prepare(canonical_sql: str, _units: UnitMap) -> str:
    """Each row with what the causes need to know of its companions: how many covered and
    negation lines share its usage, and whether its reservation has a RIFee line. Joined from
    small aggregates (only Savings Plan and RIFee rows), which is far cheaper than windows."""
    same_usage = " AND ".join(f"src.{c} IS NOT DISTINCT FROM pairs.{c}" for c in _PAIR)
    return f"""
WITH src AS ({canonical_sql}),
pairs AS (
    SELECT {", ".join(_PAIR)},
        count(*) FILTER (WHERE line_item_line_item_type = 'SavingsPlanNegation') AS pair_negations,
        count(*) FILTER (WHERE line_item_line_item_type = 'SavingsPlanCoveredUsage') AS pair_covered
    FROM src WHERE line_item_line_item_type IN {_SP} GROUP BY ALL
),
fees AS (
    SELECT DISTINCT line_item_currency_code AS fee_currency, reservation_reservation_a_r_n AS fee_reservation
    FROM src WHERE line_item_line_item_type = 'RIFee' AND NULLIF(reservation_reservation_a_r_n, '') IS NOT NULL
)
SELECT src.*, pairs.pair_negations, pairs.pair_covered, fees.fee_reservation IS NOT NULL AS has_rifee
FROM src
LEFT JOIN pairs ON src.line_item_line_item_type IN {_SP} AND {same_usage}
LEFT JOIN fees ON src.line_item_line_item_type = 'DiscountedUsage'
    AND src.line_item_currency_code = fees.fee_currency AND src.reservation_reservation_a_r_n = fees.fee_reservation"""


AMORTISED = """CASE line_item_line_item_type
    WHEN 'SavingsPlanCoveredUsage' THEN COALESCE(savings_plan_savings_plan_effective_cost, 0)
    WHEN 'SavingsPlanRecurringFee'
        THEN COALESCE(savings_plan_total_commitment_to_date, 0) - COALESCE(savings_plan_used_commitment, 0)
    WHEN 'SavingsPlanNegation' THEN 0
    WHEN 'SavingsPlanUpfrontFee' THEN 0
    WHEN 'DiscountedUsage' THEN COALESCE(reservation_effective_cost, line_item_unblended_cost)
    WHEN 'RIFee' THEN COALESCE(reservation_unused_amortized_upfront_fee_for_billing_period, 0)
                      + COALESCE(reservation_unused_recurring_fee, 0)
    ELSE CASE WHEN line_item_line_item_type = 'Fee' AND NULLIF(reservation_reservation_a_r_n, '') IS NOT NULL
              THEN 0 ELSE line_item_unblended_cost END
END"""

UNBLENDED = "the unblended sum"

CUR_TOTALS = SourceTotals(
    currency="line_item_currency_code",
    figures={"BilledCost": "line_item_unblended_cost", "EffectiveCost": AMORTISED},
    causes=(
        Cause(
            code="covered-usage-without-negation",
            metric="BilledCost",
            condition="line_item_line_item_type = 'SavingsPlanCoveredUsage' AND pair_negations = 0",
            amount="-line_item_unblended_cost",
            lines="SavingsPlanCoveredUsage lines without their SavingsPlanNegation lines",
            reason="FOCUS bills covered usage at 0",
            against=UNBLENDED,
        ),
        Cause(
            code="negation-without-covered-usage",
            metric="BilledCost",
            condition="line_item_line_item_type = 'SavingsPlanNegation' AND pair_covered = 0",
            amount="-line_item_unblended_cost",
            lines="SavingsPlanNegation lines without the SavingsPlanCoveredUsage lines they cancel",
            reason="FOCUS bills covered usage at 0 and has no negation lines",
            against=UNBLENDED,
        ),
        Cause(
            code="discounted-usage-without-rifee",
            metric="EffectiveCost",
            condition="line_item_line_item_type = 'DiscountedUsage' AND NOT has_rifee",
            amount="COALESCE(reservation_effective_cost, line_item_unblended_cost) - line_item_unblended_cost",
            lines="DiscountedUsage lines without their reservation's RIFee line",
            reason="their EffectiveCost amortises a reservation fee that this file does not bill",
            against="BilledCost",
            checked=False,
        ),
    ),
    prepare=_prepare,
)
