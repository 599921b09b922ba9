"""Response models of GET /api/cloud/monitoring/metrics: a Prometheus range query's shape."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Point = tuple[int, str]


class SeriesOut(BaseModel):
    metric: dict[str, str] = Field(
        description="The series' labels: __name__ (the metric), resource, resource_id, provider, provider_id, "
        "region, type, unit, step, aggregation (and currency for cost_rate)."
    )
    values: list[Point] = Field(
        description="[unix seconds, value as a string] pairs, oldest first; a point's time is its step's start "
        "and a step with no data has no point."
    )


class MatrixOut(BaseModel):
    resultType: Literal["matrix"] = "matrix"  # noqa: N815 - Prometheus's spelling
    result: list[SeriesOut]


CSV_EXAMPLE = (
    "resource_id,resource,provider,metric,time,value\n"
    "6f1c2d3e-0000-4000-8000-000000000001,wedsync-api-1,sandbox-aws,cpu,2026-12-06T09:00:00+00:00,62.01\n"
)


class MetricsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "success",
                    "data": {
                        "resultType": "matrix",
                        "result": [
                            {
                                "metric": {
                                    "__name__": "cpu",
                                    "resource": "wedsync-api-1",
                                    "resource_id": "6f1c2d3e-0000-4000-8000-000000000001",
                                    "provider": "sandbox-aws",
                                    "provider_id": "0b6f6f0e-8d0f-4a53-9d55-2a7b7d1f1c11",
                                    "region": "eu-west-2",
                                    "type": "compute",
                                    "unit": "percent",
                                    "step": "30s",
                                    "aggregation": "avg",
                                },
                                "values": [[1796547600, "62.01"], [1796547630, "64.3"]],
                            }
                        ],
                    },
                    "next_cursor": None,
                }
            ]
        }
    )

    status: Literal["success"] = "success"
    data: MatrixOut
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page of series; absent on the last page."
    )
