"""The oracle's settings, from ``SETTLE_ORACLE_*`` environment variables (or set in code by tests and tools)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from settle.config import get_settings, settings_from_env
from settle.money import InvalidAmount, parse_minor

GWEI_DECIMALS = 9  # 1 gwei = 10^9 wei


class OracleSettings(BaseModel):
    """Everything an oracle process is configured with. Secrets (keystore password) never live here."""

    model_config = ConfigDict(extra="ignore")

    #: SQLAlchemy URL; empty means ``settle.db.database_url("oracle")`` (SQLite in the runtime folder).
    database_url: str = ""
    #: Named network from networks.yaml (or an RPC URL); empty means SETTLE_NETWORK or anvil.
    network: str = ""
    #: Signer: an eth-account keystore file (password from SETTLE_KEYSTORE_PASSWORD or a prompt) ...
    keystore: str = ""
    #: ... or one of anvil's public test accounts (dev chains only).
    dev_account: int | None = None
    #: Optional relayer that sends the report transactions and pays their gas, while the signer above only signs
    #: each report (EIP-712, ``reportUsageWithSignature``): a keystore (password from
    #: SETTLE_RELAY_KEYSTORE_PASSWORD or a prompt) ...
    relay_keystore: str = ""
    #: ... or one of anvil's public test accounts (dev chains only).
    relay_dev_account: int | None = None
    #: Watched folder: ``<inbox>/<source name>/*.csv|*.jsonl``.
    inbox: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8600
    #: HTTP API processes. More than one spreads JSON parsing and checks over the CPUs; writes to one SQLite file
    #: still happen one at a time (the processes queue on a lock file beside it).
    api_workers: int = Field(default=1, ge=1, le=64)
    #: Whether the HTTP API checks proofs against the chain: set by ``settle oracle run`` for the API worker processes
    #: it starts (off with ``--no-submit``).
    api_chain: bool = False

    #: A report is cut once it holds this many records ...
    report_max_records: int = Field(default=10_000, ge=1)
    #: ... or its oldest record waited this long (seconds) ...
    report_max_age: float = Field(default=60.0, ge=0)
    #: ... and always this long (seconds) before its period's grace window ends (at most half the grace window).
    flush_margin: int = Field(default=900, ge=0)
    #: A record more than this factor above the trailing average of its meter is quarantined (0 turns it off).
    outlier_factor: Decimal = Decimal(10)
    #: The trailing average needs this many records of the meter before the outlier check applies.
    outlier_min_records: int = Field(default=20, ge=1)
    #: Records may be this far (seconds) ahead of the oracle's clock (clock skew between systems).
    future_tolerance: int = Field(default=300, ge=0)
    #: Records per ingest transaction (bounded memory for large files).
    chunk_records: int = Field(default=40_000, ge=1)
    #: Largest batch accepted by POST /v1/usage.
    http_max_records: int = Field(default=10_000, ge=1)
    #: Largest request body accepted by POST /v1/usage, in bytes (read no further: bounded memory per request).
    http_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)

    #: Transactions per JSON-RPC batch, and how many reports the submitter takes per round.
    rpc_batch: int = Field(default=100, ge=1)
    #: A report's transaction still waiting in the node's pool this many seconds after it was priced is signed
    #: again with the same nonce and fees raised by at least 12.5% (what nodes require of a replacement); 0: never.
    reprice_after: float = Field(default=60.0, ge=0)
    #: Never offer more than this max fee per gas, in gwei (0: no cap). A report that needs more waits, with an alert.
    max_fee_gwei: Decimal = Field(default=Decimal(0), ge=0)
    #: Override the network's confirmation depth.
    confirmations: int | None = None
    #: Alert when a report is not confirmed this long (seconds) before its grace window ends.
    alert_margin: int = Field(default=600, ge=0)
    #: POST alerts as JSON to this URL (a webhook); alerts are always logged.
    alert_webhook: str = ""
    #: Seconds a dropped file must stay unchanged before the watcher takes it.
    file_settle_seconds: float = Field(default=1.0, ge=0)
    poll_seconds: float = Field(default=1.0, gt=0)
    #: Chain state (terms, settled periods) is re-read this often (seconds).
    sync_seconds: float = Field(default=30.0, gt=0)

    @field_validator("max_fee_gwei")
    @classmethod
    def _whole_wei(cls, value: Decimal) -> Decimal:
        try:
            parse_minor(value, GWEI_DECIMALS, field="max_fee_gwei")
        except InvalidAmount as exc:
            raise ValueError(exc.problem) from None
        return value

    @property
    def max_fee_wei(self) -> int:
        """``max_fee_gwei`` in wei, exactly (``Decimal`` arithmetic would round past 28 digits)."""
        return parse_minor(self.max_fee_gwei, GWEI_DECIMALS, field="max_fee_gwei")

    def resolved_inbox(self) -> Path:
        return self.inbox if self.inbox is not None else get_settings().runtime_dir / "oracle" / "inbox"


def load_settings(**overrides: object) -> OracleSettings:
    """Settings from ``SETTLE_ORACLE_<FIELD>`` environment variables, with ``overrides`` (e.g. command-line options)
    on top, checked together (``settle.config.settings_from_env``)."""
    return settings_from_env("SETTLE_ORACLE_", OracleSettings, **overrides)


def settings_environment(settings: OracleSettings) -> dict[str, str]:
    """``settings`` as the ``SETTLE_ORACLE_*`` variables that ``load_settings`` reads back: how a process hands its
    effective settings (command-line options included) to the API worker processes it starts."""
    out = {}
    for name, value in settings.model_dump().items():
        if value is not None:
            out[f"SETTLE_ORACLE_{name.upper()}"] = str(value)
    return out
