"""The model of a long-running operation, as every endpoint that starts one answers it (202)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class OperationOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5d0c1bd6-0e77-4b4f-9a8e-6f1f0c3f2a10",
                    "kind": "sync",
                    "status": "succeeded",
                    "provider_id": "0b6f6f0e-8d0f-4a53-9d55-2a7b7d1f1c11",
                    "resource_id": None,
                    "request": {"provider_id": "0b6f6f0e-8d0f-4a53-9d55-2a7b7d1f1c11"},
                    "result": {"counts": {"added": 130, "changed": 2, "gone": 1, "unchanged": 40}},
                    "error": None,
                    "attempts": 1,
                    "created_at": "2026-11-27T09:00:00+00:00",
                    "started_at": "2026-11-27T09:00:00+00:00",
                    "finished_at": "2026-11-27T09:00:03+00:00",
                }
            ]
        }
    )

    id: uuid.UUID
    kind: str
    status: str = Field(description="pending, running, succeeded or failed.")
    provider_id: uuid.UUID | None
    resource_id: uuid.UUID | None
    request: dict[str, Any]
    result: dict[str, Any] | None
    error: dict[str, Any] | None = Field(description="`type` and `detail` of what stopped a failed operation.")
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
