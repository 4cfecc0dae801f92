"""Fixtures of the accounting tests (sample data in accounting_samples.py)."""

from __future__ import annotations

import pytest
from accounting_samples import config_for

from gateway.accounting import AccountingConfig


@pytest.fixture(params=["SKR03", "SKR04"])
def config(request: pytest.FixtureRequest) -> AccountingConfig:
    return config_for(request.param)


@pytest.fixture()
def skr03() -> AccountingConfig:
    return config_for("SKR03")
