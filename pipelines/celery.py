"""Steps on Celery workers (dagster-celery) through a RabbitMQ broker.

With ``WEDCLOUD_EXECUTOR=celery`` the billing job's steps (the normalisation of each billing
partition, its checks and aggregates) are sent as Celery tasks to the queue
``WEDCLOUD_CELERY_QUEUE`` on the broker ``WEDCLOUD_CELERY_BROKER_URL``; ``wedcloud worker``
consumes that queue. The run's own process orchestrates: it claims a concurrency-pool slot for a
step before sending it (``InstanceConcurrencyContext``, as the multiprocess executor does), so the
warehouse pool's single slot holds across every worker and every run.

The executor's config names the broker's variable (``{"env": ...}``) rather than its URL, so a
password in the URL shows neither in the UI nor in a run's stored config; workers read the same
variable. This module is also the Celery app workers load (``celery -A pipelines.celery``).
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
from dagster_celery import celery_executor
from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

BROKER_ENV = "WEDCLOUD_CELERY_BROKER_URL"
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
QUEUE_ENV = "WEDCLOUD_CELERY_QUEUE"
DEFAULT_QUEUE = "wedcloud"
BACKEND = "rpc://"  # results come back over the broker: nothing else to run


def broker_url() -> str:
    return os.environ.get(BROKER_ENV) or DEFAULT_BROKER


def queue_name() -> str:
    return os.environ.get(QUEUE_ENV) or DEFAULT_QUEUE


def executor_config() -> dict[str, Any]:
    """The Celery executor's config: the broker by its variable's name when it is set."""
    broker: str | dict[str, str] = {"env": BROKER_ENV} if os.environ.get(BROKER_ENV) else DEFAULT_BROKER
    return {
        "broker": broker,
        "backend": BACKEND,
        "config_source": {"task_default_queue": queue_name(), "worker_prefetch_multiplier": 1},
    }


def executor() -> dg.ExecutorDefinition:
    return celery_executor.configured(executor_config(), name="celery")


def worker_app() -> Any:
    """The Celery app ``wedcloud worker`` runs: the executor's broker, backend and queue."""
    config = executor_config()
    celery = CeleryExecutor.for_cli(broker=broker_url(), backend=BACKEND, config_source=config["config_source"])
    return make_app(celery.app_args())


app = worker_app()
execute_plan = create_task(app)
