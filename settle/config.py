"""Where things live and which settings apply.

Settings come from environment variables prefixed ``SETTLE_`` (for example ``SETTLE_RPC_URL``); paths default
to the repository this package was installed from, so an editable install works from any folder.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

# The deterministic development mnemonic anvil and ganache are started with. Its keys are public test keys:
# they must never hold value, and chain access refuses them on any chain id that is not a dev chain.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_CHAIN_ID = 31337
DEV_CHAIN_IDS = frozenset({31337, 1337})


def _default_root() -> Path:
    return Path(__file__).resolve().parent.parent


class Settings(BaseModel):
    """Process-wide settings, read once from ``SETTLE_*`` environment variables.

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


def settings_from_env(prefix: str = "SETTLE_", model: type[BaseModel] = Settings) -> BaseModel:
    """Build ``model`` from environment variables named ``prefix + FIELD`` (case-insensitive)."""
    values = {}
    env = {k.upper(): v for k, v in os.environ.items()}
    for name in model.model_fields:
        key = (prefix + name).upper()
        if key in env and env[key] != "":
            values[name] = env[key]
    return model.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = settings_from_env()
    assert isinstance(settings, Settings)
    return settings


def reset_settings() -> None:
    """Forget cached settings (tests change the environment)."""
    get_settings.cache_clear()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
