"""Where things live and which settings apply: the one settings loader.

Settings come from environment variables prefixed ``SETTLE_`` (for example ``SETTLE_RPC_URL``); paths default
to the repository this package was installed from, so an editable install works from any folder. Each part has
its own settings model read by :func:`settings_from_env` with its own prefix (``SETTLE_ORACLE_``,
``SETTLE_GATEWAY_``); a value that does not fit its field is refused in one line naming the variable. Secrets
are not settings: :func:`secret` reads them when they are used, so no settings object ever holds one. No other
module reads ``SETTLE_*`` variables (``tests/test_settings.py`` checks).
"""

from __future__ import annotations

import getpass
import os
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from settle.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

# The deterministic development mnemonic anvil and ganache are started with. Its keys are public test keys:
# they must never hold value, and chain access refuses them on any chain id that is not a dev chain.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_CHAIN_ID = 31337
DEV_CHAIN_IDS = frozenset({31337, 1337})


def _default_root() -> Path:
    return Path(__file__).resolve().parent.parent


class Settings(BaseModel):
    """Process-wide settings, from ``SETTLE_*`` environment variables.

    (Plain pydantic rather than pydantic-settings: the optional Brownie environment pins a python-dotenv
    that pydantic-settings cannot use, and the same ``settle`` package must import there.)
    """

    model_config = ConfigDict(extra="ignore")

    root: Path = _default_root()
    #: Attach to this node instead of starting one (tests and ``settle chain``).
    rpc_url: str | None = None
    #: Which local node ``settle chain up`` and the test fixture start: ``anvil`` or ``ganache``.
    node: str = "anvil"
    #: Folder for runtime state of local commands (chain pid file, logs).
    state_dir: Path | None = None
    #: The network commands use when ``--network`` is not given: a name from networks.yaml or an RPC URL.
    network: str = ""
    #: A further networks file whose entries extend (and override) the repository's networks.yaml.
    networks: Path | None = None
    #: Folder of the deployment records (``<chain-id>.json``); default ``deployments/`` in the repository.
    deployments_dir: Path | None = None
    #: The database both parts use unless ``SETTLE_ORACLE_DATABASE_URL`` / ``SETTLE_GATEWAY_DATABASE_URL`` is set.
    database_url: str = ""
    #: Who the command line acts as in history records (default ``cli:<user>``).
    actor: str = ""
    #: The gateway's HTTP API (e.g. ``http://127.0.0.1:8700``): where ``settle agreement`` hands dispute texts.
    gateway_api_url: str = ""
    #: A YAML file of named dunning policies (``policies: {NAME: {levels: [...]}}``) that specs and the gateway's
    #: ``settle dunning assign --policy NAME`` may name, next to the built-in ``default``.
    dunning_policies: Path | None = None
    #: A native solc binary to compile with (must be the pinned version).
    solc: str = ""

    @property
    def contracts_dir(self) -> Path:
        return self.root / "contracts"

    @property
    def build_dir(self) -> Path:
        return self.root / "build"

    @property
    def node_modules(self) -> Path:
        return self.root / "node_modules"

    @property
    def runtime_dir(self) -> Path:
        return self.state_dir if self.state_dir is not None else self.root / ".settle"

    @property
    def deployments(self) -> Path:
        return self.deployments_dir if self.deployments_dir is not None else self.root / "deployments"


class DatabaseSettings(BaseModel):
    """A part's own database (``SETTLE_ORACLE_DATABASE_URL``, ``SETTLE_GATEWAY_DATABASE_URL``)."""

    model_config = ConfigDict(extra="ignore")

    database_url: str = ""


def _environment(prefix: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k.upper(), v) for k, v in os.environ.items() if k.upper().startswith(prefix)))


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, set, frozenset, tuple):
        return True
    return origin in (typing.Union, types.UnionType) and any(_is_list(a) for a in typing.get_args(annotation))


def settings_from_env(prefix: str = "SETTLE_", model: type[M] = Settings, **overrides: object) -> M:  # type: ignore[assignment]
    """Build ``model`` from environment variables named ``prefix + FIELD`` (case-insensitive; empty means unset),
    with ``overrides`` (command-line options; None means not given) on top. A list field takes a comma-separated
    value. A value that does not fit is a :class:`ConfigError` naming the variable (or option) and what it needs."""
    env = dict(_environment(prefix))
    values: dict[str, object] = {}
    origin: dict[str, str] = {}
    fields = model.model_fields
    for name in fields:
        key = (prefix + name).upper()
        if env.get(key, "") != "":
            values[name], origin[name] = env[key], key
    for name, value in overrides.items():
        if value is not None:
            values[name], origin[name] = value, f"option {name.replace('_', '-')}"
    given = dict(values)
    for name, value in given.items():
        if isinstance(value, str) and name in fields and _is_list(fields[name].annotation):
            values[name] = [part.strip() for part in value.split(",") if part.strip()]
    try:
        return model.model_validate(values)
    except PydanticValidationError as exc:
        raise ConfigError("; ".join(_problem(e, origin, given) for e in exc.errors())) from None


def _problem(error: Any, origin: dict[str, str], given: dict[str, object]) -> str:
    """``SETTLE_ORACLE_PORT: input should be a valid integer, … (got 'abc')``: the variable, what it needs, the value
    (not for URLs, which may carry a password)."""
    field = str(error["loc"][0]) if error["loc"] else ""
    detail = str(error["msg"]).removeprefix("Value error, ")
    detail = detail[:1].lower() + detail[1:]
    value = given.get(field)
    shown = "" if value is None or "url" in field or repr(value) in detail else f" (got {value!r})"
    return f"{origin.get(field, field)}: {detail}{shown}"


@lru_cache(maxsize=8)
def _cached(environment: tuple[tuple[str, str], ...]) -> Settings:
    return settings_from_env()


def get_settings() -> Settings:
    """The process-wide settings for the current environment (read again when a ``SETTLE_*`` variable changes)."""
    return _cached(_environment("SETTLE_"))


def reset_settings() -> None:
    """Forget cached settings (the cache follows the environment; kept for callers that change files instead)."""
    _cached.cache_clear()


def part_database_url(part: str) -> str:
    """``SETTLE_<PART>_DATABASE_URL``, else ``SETTLE_DATABASE_URL``; empty when neither is set."""
    own = settings_from_env(f"SETTLE_{part.upper()}_", DatabaseSettings)
    return own.database_url or get_settings().database_url


def cli_actor() -> str:
    """Who a command acts as in history records: ``SETTLE_ACTOR``, else ``cli:<operating-system user>``."""
    configured = get_settings().actor
    if configured:
        return configured
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (a container)
        return "cli:unknown"


def secret(name: str) -> str | None:
    """The secret in environment variable ``name`` (a keystore password, a webhook secret, an API token), read
    when it is needed and never stored in a settings object (those are logged, dumped and handed to workers)."""
    return os.environ.get(name)
