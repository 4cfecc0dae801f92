"""mypy (run by `make typecheck`, part of `make test` and `make lint`) covers settle, settle_cli, oracle and gateway,
reports `type: ignore` comments it no longer needs, and skips no package and no error of ours. This reads the
configuration only; mypy itself runs in `make test`, not here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())
MYPY = CONFIG["tool"]["mypy"]
PACKAGES = {"settle", "settle_cli", "oracle", "gateway"}


def _target(name: str) -> tuple[list[str], list[str]]:
    """A Makefile target's prerequisites and recipe lines."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    for i, line in enumerate(lines):
        match = re.match(rf"^{re.escape(name)}:(?!=)(.*)$", line)
        if match:
            recipe = []
            for following in lines[i + 1 :]:
                if not following.startswith("\t"):
                    break
                recipe.append(following.strip())
            return match.group(1).split(), recipe
    raise AssertionError(f"the Makefile has no {name!r} target")


def test_mypy_checks_every_package_the_project_ships() -> None:
    assert set(MYPY["files"]) == PACKAGES
    shipped = {pattern.split(".")[0] for pattern in CONFIG["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert shipped == PACKAGES, "a new package must be added to [tool.mypy] files too"
    for pattern in [MYPY.get("exclude", [])] if isinstance(MYPY.get("exclude"), str) else MYPY.get("exclude", []):
        assert not any(re.search(pattern, f"{package}/__init__.py") for package in PACKAGES), pattern


def test_unneeded_ignores_and_casts_are_errors_and_untyped_functions_are_checked() -> None:
    assert MYPY["python_version"] == "3.11"
    assert MYPY["warn_unused_ignores"] is True
    assert MYPY["warn_redundant_casts"] is True
    assert MYPY["check_untyped_defs"] is True


def test_only_named_third_party_modules_skip_their_missing_types() -> None:
    for option in ("ignore_missing_imports", "ignore_errors", "follow_imports"):
        assert option not in MYPY, f"{option} for every module hides errors: set it per third-party module"
    for override in MYPY.get("overrides", []):
        modules = [override["module"]] if isinstance(override["module"], str) else override["module"]
        assert "ignore_errors" not in override, modules
        assert not any(m.split(".")[0] in PACKAGES for m in modules), f"{modules}: our own modules are checked in full"
        assert set(override) <= {"module", "ignore_missing_imports"}, override


def test_make_test_and_make_lint_run_mypy_installed_by_setup() -> None:
    prerequisites, recipe = _target("typecheck")
    assert "setup" in prerequisites
    assert recipe == ["$(VENV)/bin/mypy"], "no paths on the command line: [tool.mypy] files decides what is checked"
    assert "typecheck" in _target("test")[0]
    assert "typecheck" in _target("lint")[0]
    dev = CONFIG["project"]["optional-dependencies"]["dev"]
    assert any(re.match(r"mypy\b", requirement) for requirement in dev)
    assert any(re.match(r"types-PyYAML\b", requirement) for requirement in dev)


def test_every_type_ignore_names_its_error_code() -> None:
    """A bare `# type: ignore` silences every error on its line, present and future; one with a code only that one."""
    bare = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in sorted(PACKAGES)
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"#\s*type:\s*ignore(?!\[)", line)
    ]
    assert bare == []
