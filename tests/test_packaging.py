"""pyproject.toml: the package list and metadata work with older setuptools too (pip --no-build-isolation)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_licence_in_the_form_every_setuptools_reads() -> None:
    # A plain string (PEP 639) is refused by setuptools before 77, which --no-build-isolation may find installed.
    assert CONFIG["project"]["license"] == {"text": "Apache-2.0"}


def test_only_the_four_packages_are_found(tmp_path: Path) -> None:
    find = CONFIG["tool"]["setuptools"]["packages"]["find"]
    assert find["namespaces"] is False
    for folder in ("settle", "settle/cli", "settle_cli", "oracle", "gateway", "gateway/api"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "settle-demo-20261206-0312").mkdir()  # what `settle demo` leaves in the working folder
    (tmp_path / "settle-demo-20261206-0312" / "invoice.py").write_text("")
    (tmp_path / "settlements").mkdir()
    (tmp_path / "settlements" / "__init__.py").write_text("")
    found = sorted(find_packages(where=str(tmp_path), include=find["include"]))
    assert found == ["gateway", "gateway.api", "oracle", "settle", "settle.cli", "settle_cli"]
    # The real tree: every package of the repository is found, nothing else.
    real = set(find_packages(where=str(ROOT), include=find["include"]))
    assert {"settle", "settle.cli", "settle_cli", "oracle", "gateway", "gateway.api"} <= real
    assert all(p.split(".")[0] in {"settle", "settle_cli", "oracle", "gateway"} for p in real)


def test_the_console_script_is_the_composition_root() -> None:
    assert CONFIG["project"]["scripts"] == {"settle": "settle_cli:main"}
