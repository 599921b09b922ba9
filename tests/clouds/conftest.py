"""Price API emulators for the price catalogue tests: one server per session, emptied per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulators.aws_pricing import AwsPricingEmulator
from tests.emulators.azure_prices import AzurePricesEmulator
from tests.emulators.google_billing import GoogleBillingEmulator


@pytest.fixture(scope="session")
def aws_pricing_server() -> Iterator[AwsPricingEmulator]:
    """The AWS Price List Query API emulator (tests/emulators/aws_pricing.py)."""
    emulator = AwsPricingEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def aws_pricing(aws_pricing_server: AwsPricingEmulator) -> Iterator[AwsPricingEmulator]:
    yield aws_pricing_server
    aws_pricing_server.reset()


@pytest.fixture(scope="session")
def azure_prices_server() -> Iterator[AzurePricesEmulator]:
    """The Azure Retail Prices API emulator (tests/emulators/azure_prices.py)."""
    emulator = AzurePricesEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def azure_prices(azure_prices_server: AzurePricesEmulator) -> Iterator[AzurePricesEmulator]:
    yield azure_prices_server
    azure_prices_server.reset()


@pytest.fixture(scope="session")
def google_billing_server() -> Iterator[GoogleBillingEmulator]:
    """The Cloud Billing Catalog API emulator (tests/emulators/google_billing.py)."""
    emulator = GoogleBillingEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def google_billing(google_billing_server: GoogleBillingEmulator) -> Iterator[GoogleBillingEmulator]:
    yield google_billing_server
    google_billing_server.reset()
