"""The one settings loader (settle.config): every part's settings come from SETTLE_<PART>_* variables through
``settings_from_env``; no other module reads a SETTLE_* variable itself; a malformed value is one ConfigError naming
the variable and what it needs; settings follow the environment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from settle.config import Settings, get_settings, part_database_url, secret, settings_from_env
from settle.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("settle", "settle_cli", "oracle", "gateway")
#: Modules that may read SETTLE_* variables themselves, and why.
ALLOWED = {
    "settle/config.py": "the loader itself (settings_from_env, secret)",
    "settle/faults.py": "crash points: a test's forked child arms one after import, so each hit reads the variable",
}


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def _keys_read(tree: ast.AST) -> list[tuple[int, ast.AST]]:
    """``(line, key expression)`` of every read of one environment variable: environ.get/pop/setdefault(K),
    os.getenv(K), environ[K] (not as an assignment target) and K in environ."""
    found: list[tuple[int, ast.AST]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if node.func.attr in ("get", "pop", "setdefault") and _is_environ(node.func.value):
                found.append((node.lineno, node.args[0]))
            elif node.func.attr == "getenv" and isinstance(node.func.value, ast.Name) and node.func.value.id == "os":
                found.append((node.lineno, node.args[0]))
        elif isinstance(node, ast.Subscript) and _is_environ(node.value) and isinstance(node.ctx, ast.Load):
            found.append((node.lineno, node.slice))
        elif isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
            found.append((node.lineno, node.left))
    return found


def _text(key: ast.AST, constants: dict[str, str]) -> str | None:
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value
    if isinstance(key, ast.JoinedStr) and key.values and isinstance(key.values[0], ast.Constant):
        return str(key.values[0].value)
    if isinstance(key, ast.Name | ast.Attribute):
        return constants.get(key.id if isinstance(key, ast.Name) else key.attr)
    return None


def test_no_module_but_the_loader_reads_a_settle_variable() -> None:
    paths = sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))
    trees = {p: ast.parse(p.read_text()) for p in paths}
    constants = {  # module-level NAME = "SETTLE_…" anywhere (they are imported across modules)
        target.id: node.value.value
        for tree in trees.values()
        for node in getattr(tree, "body", [])
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    reads = []
    for path, tree in trees.items():
        where = str(path.relative_to(ROOT))
        for line, key in _keys_read(tree):
            text = _text(key, constants)
            if text is not None and text.upper().startswith("SETTLE_") and where not in ALLOWED:
                reads.append(f"{where}:{line} {text}")
    assert reads == []
    assert set(ALLOWED) <= {str(p.relative_to(ROOT)) for p in paths}


def test_the_guard_sees_every_form_of_a_read() -> None:
    source = """
import os
NAME = "SETTLE_SECRET_THING"
a = os.environ.get("SETTLE_A")
b = os.getenv(f"SETTLE_{x}_URL")
c = os.environ[NAME]
d = "SETTLE_D" in os.environ
os.environ["SETTLE_E"] = "written, not read"
"""
    keys = [_text(key, {"NAME": "SETTLE_SECRET_THING"}) for _, key in _keys_read(ast.parse(source))]
    assert set(keys) == {"SETTLE_A", "SETTLE_", "SETTLE_SECRET_THING", "SETTLE_D"} and len(keys) == 4  # the write is not a read


class Example(BaseModel):
    port: int = 8600
    workers: int = Field(default=1, ge=1, le=64)
    retry_seconds: list[float] = Field(default_factory=lambda: [1.0])
    names: frozenset[str] = frozenset()
    database_url: str = ""


def test_values_come_from_the_prefix_and_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTLE_EX_PORT", "9000")
    monkeypatch.setenv("SETTLE_EX_RETRY_SECONDS", "1.5, 60,3600")
    monkeypatch.setenv("settle_ex_names", "a,b")  # names are case-insensitive
    monkeypatch.setenv("SETTLE_EX_WORKERS", "")  # empty means unset
    monkeypatch.setenv("SETTLE_PORT", "1")  # another prefix
    loaded = settings_from_env("SETTLE_EX_", Example)
    assert (loaded.port, loaded.workers, loaded.retry_seconds, loaded.names) == (9000, 1, [1.5, 60.0, 3600.0], frozenset({"a", "b"}))
    assert settings_from_env("SETTLE_EX_", Example, port=None, workers=3, names="c").model_dump() == {
        "port": 9000,
        "workers": 3,
        "retry_seconds": [1.5, 60.0, 3600.0],
        "names": frozenset({"c"}),
        "database_url": "",
    }


def test_a_value_that_does_not_fit_names_the_variable_or_option_and_what_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTLE_EX_PORT", "abc")
    with pytest.raises(
        ConfigError, match=r"^SETTLE_EX_PORT: input should be a valid integer, unable to parse string as an integer \(got 'abc'\)$"
    ):
        settings_from_env("SETTLE_EX_", Example)
    monkeypatch.delenv("SETTLE_EX_PORT")
    with pytest.raises(ConfigError, match=r"^option workers: input should be less than or equal to 64 \(got 65\)$"):
        settings_from_env("SETTLE_EX_", Example, workers=65)
    monkeypatch.setenv("SETTLE_EX_DATABASE_URL", "postgresql://u:pw@h/db")
    monkeypatch.setenv("SETTLE_EX_PORT", "x")
    monkeypatch.setenv("SETTLE_EX_WORKERS", "0")
    with pytest.raises(ConfigError) as both:
        settings_from_env("SETTLE_EX_", Example)
    assert str(both.value).count("; ") == 1 and "SETTLE_EX_PORT" in str(both.value) and "SETTLE_EX_WORKERS" in str(both.value)


def test_a_url_that_does_not_fit_is_named_but_not_shown() -> None:
    class Strict(BaseModel):
        database_url: int = 0

    with pytest.raises(ConfigError) as refused:
        settings_from_env("SETTLE_EX_", Strict, database_url="postgresql://u:pw@h/db")
    assert str(refused.value).startswith("option database-url: ") and "pw" not in str(refused.value)


def test_settings_follow_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SETTLE_DEPLOYMENTS_DIR", str(tmp_path / "one"))
    assert get_settings().deployments == tmp_path / "one"
    monkeypatch.setenv("SETTLE_DEPLOYMENTS_DIR", str(tmp_path / "two"))
    assert get_settings().deployments == tmp_path / "two"
    monkeypatch.delenv("SETTLE_DEPLOYMENTS_DIR")
    assert get_settings().deployments == Settings().root / "deployments"


def test_a_part_s_database_comes_before_the_shared_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SETTLE_GATEWAY_DATABASE_URL", raising=False)
    monkeypatch.setenv("SETTLE_DATABASE_URL", "sqlite:///shared.db")
    assert part_database_url("gateway") == "sqlite:///shared.db"
    monkeypatch.setenv("SETTLE_GATEWAY_DATABASE_URL", "sqlite:///gateway.db")
    assert part_database_url("gateway") == "sqlite:///gateway.db" and part_database_url("oracle") == "sqlite:///shared.db"


def test_secrets_are_read_when_used_and_kept_in_no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SETTLE_KEYSTORE_PASSWORD", "correct horse")
    assert secret("SETTLE_KEYSTORE_PASSWORD") == "correct horse"
    from gateway.settings import GatewaySettings
    from oracle.config import OracleSettings

    for model in (Settings, OracleSettings, GatewaySettings):
        assert not [name for name in model.model_fields if "password" in name or "secret" in name or "token" in name]


def test_every_variable_the_readme_lists_is_a_setting() -> None:
    """README's settings table names variables the loader reads: each is a field of Settings (SETTLE_<FIELD>) or a
    part's database URL."""
    text = (ROOT / "README.md").read_text()
    table = text.split("| variable | what |", 1)[1].split("\n\n", 1)[0]
    named = {cell.strip("`") for row in table.splitlines()[2:] for cell in row.split("|")[1].replace(",", " ").split()}
    plain = {name for name in named if not name.endswith("*")}
    assert {"SETTLE_NETWORK", "SETTLE_DATABASE_URL", "SETTLE_ACTOR"} <= plain
    fields = {f"SETTLE_{name.upper()}" for name in Settings.model_fields}
    assert plain - fields == set()
    assert {"SETTLE_GATEWAY_*", "SETTLE_ORACLE_*"} <= named
