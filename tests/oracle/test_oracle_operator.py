"""The oracle as an operator meets it: one-line errors naming the option, the clock in use said at start, times with
their zone, the default port in the help, quarantine listed with quantity and time."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _settle(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "settle", *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


@pytest.mark.parametrize("workers", ["0", "65", "-1"])
def test_api_workers_out_of_range_is_one_line_naming_the_option_and_the_range(workers, tmp_path):
    done = _settle(
        "oracle", "run", "--api-workers", workers, "--no-submit", env={"SETTLE_ORACLE_DATABASE_URL": f"sqlite:///{tmp_path}/o.db"}
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: --api-workers {workers} is out of range: choose 1 to 64"]
    assert done.stdout == ""
