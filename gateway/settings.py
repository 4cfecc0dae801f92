"""The gateway's settings, from ``SETTLE_GATEWAY_*`` environment variables (or set in code by the demo and tests).

Secrets never live here: the keystore password comes from ``SETTLE_KEYSTORE_PASSWORD`` or a prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from settle.config import get_settings, settings_from_env


class GatewaySettings(BaseModel):
    """Everything a gateway process is configured with."""

    model_config = ConfigDict(extra="ignore")

    #: SQLAlchemy URL; empty means SETTLE_GATEWAY_DATABASE_URL / SETTLE_DATABASE_URL / SQLite in the runtime folder.
    database_url: str = ""
    #: Named network from networks.yaml (or an RPC URL); empty means SETTLE_NETWORK or anvil.
    network: str = ""
    #: The AgreementFactory to follow; empty means the one recorded in deployments/<chain-id>.json.
    factory: str = ""
    #: First block to read (the factory's deployment block is a good choice on long chains).
    from_block: int = Field(default=0, ge=0)
    #: Override the network's confirmation depth.
    confirmations: int | None = Field(default=None, ge=0)
    #: Blocks per eth_getLogs call.
    batch_blocks: int = Field(default=2_000, ge=1)
    #: Signer of settle / collect / confirmPayment / reportReturn: a keystore file (needs GATEWAY_ROLE for the
    #: last two) ...
    keystore: str = ""
    #: ... or one of anvil's public test accounts (dev chains only).
    dev_account: int | None = Field(default=None, ge=0, le=19)
    #: Folder that keeps every payment file built.
    files_dir: Path | None = None
    #: Bank connector folders: payment files go to the outbox, statements arrive in the inbox.
    bank_outbox: Path | None = None
    bank_inbox: Path | None = None
    #: Banking dates (collection and execution dates) from the wall clock ("system") or from the chain's latest
    #: block ("chain": for demos and tests whose chain time is moved forward).
    clock: Literal["system", "chain"] = "system"
    #: Payment file schemas.
    dd_schema: str = "pain.008.001.08"
    ct_schema: str = "pain.001.001.09"
    #: Seconds after a failed ERC-20 pull until `collect(period)` is tried again, one entry per retry; after the
    #: last the settlement stays open for dunning.
    collect_retry_seconds: list[float] = Field(default_factory=lambda: [3_600.0, 6 * 3_600.0, 24 * 3_600.0, 72 * 3_600.0])
    #: How long a worker holds an outbox item before another may take it over (a crashed worker's items wait this).
    lease_seconds: float = Field(default=60.0, gt=0)
    #: Seconds to wait for a transaction receipt before the item is retried.
    receipt_timeout: float = Field(default=60.0, gt=0)
    #: Pause between rounds of the workers when there is nothing to do.
    poll_seconds: float = Field(default=1.0, gt=0)
    #: Name of this worker (outbox lock owner); empty means host:pid.
    worker: str = ""
    #: Workers that do not run in this process (all run by default; names in gateway/workers.py:
    #: listener, keeper, chain_tx, invoicing, payments, bank, dunning, notices, webhooks). ``SETTLE_GATEWAY_DISABLED=keeper,bank``.
    disabled: frozenset[str] = frozenset()
    #: Invoice numbers: one gapless series per issuer (payee); ``{seq}`` (``{seq:06}`` pads), ``{yyyy}`` or ``{yy}``
    #: (the series restarts every year when the year is shown).
    invoice_pattern: str = "RE-{yyyy}-{seq:06}"
    #: Folder of the issued documents (content-addressed by SHA-256; the database keeps the hashes).
    invoice_dir: Path | None = None
    #: Language of the PDF layout and of generated line texts (the XML is the same in both).
    invoice_language: Literal["de", "en"] = "de"
    #: Record each invoice's hash on-chain (``anchorInvoice``); empty means on for dev chains, off elsewhere.
    invoice_anchor: bool | None = None
    #: What the payee charges the payer for a returned direct debit (the bank's fee passed on), in cents: each return
    #: gets an invoice referring to the settlement's invoice, outside the scope of VAT (damages); 0: none.
    invoice_return_fee: int = Field(default=0, ge=0, le=100_000)
    #: A document held back (missing master data, a broken rule) is checked again after this many seconds.
    invoice_recheck_seconds: float = Field(default=60.0, ge=0)
    #: Reconciliation: a payer may pay this much less than what is open (charges deducted on the way), in cents, and
    #: the item is still settled: the shortfall is written off and logged. Also the window of a collective transfer.
    reconcile_fee_tolerance: int = Field(default=1_000, ge=0, le=100_000)
    #: Days after a return for insufficient funds (AM04, MS03) until the debit is presented once more.
    reconcile_represent_days: int = Field(default=5, ge=0, le=60)
    #: The bank's charges on a returned debit (camt ``ChrgsInf``) become an open item of the payer.
    reconcile_charge_fees: bool = False
    #: A base-rate table of your own (§ 247 BGB, the format of gateway/receivables/data/base_rates.csv) instead of the
    #: one that ships: `settle receivables base-rate add` writes the Bundesbank's new rates there.
    base_rates: Path | None = None
    #: Folder remittance advices (PDF) are picked up from; read ones move to ``done/``, unreadable ones to ``failed/``.
    advice_inbox: Path | None = None
    #: Notices by e-mail (gateway/receivables): the SMTP server; empty means no e-mail is sent (notices are prepared
    #: and wait). The password is a secret: ``SETTLE_GATEWAY_SMTP_PASSWORD``, read when connecting, never stored here.
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65_535)
    #: The sender (``From``): an address, or ``Name <address>``.
    smtp_from: str = "settle@localhost"
    #: Log in with this user (and the password) when set.
    smtp_user: str = ""
    #: Upgrade the connection with STARTTLS before logging in (certificate checked); off only for a loopback server.
    smtp_starttls: bool = True
    #: Seconds for connecting to and talking with the SMTP server.
    smtp_timeout: float = Field(default=30.0, gt=0)
    #: Seconds after a failed send until it is tried again, one entry per retry; after the last the notice is
    #: ``failed`` (with the error) and waits for someone.
    notice_retry_seconds: list[float] = Field(default_factory=lambda: [60.0, 600.0, 3_600.0, 6 * 3_600.0])
    #: Webhooks (gateway/webhooks, docs/webhooks.md): seconds to wait for a receiver's answer; and whether endpoints
    #: may use plain http to hosts other than loopback (off: https only, on a network you trust).
    webhook_timeout: float = Field(default=10.0, gt=0, le=120)
    webhook_allow_http: bool = False
    #: Dashboard (gateway/portal/web): link to a transaction in a block explorer, ``{tx}`` replaced by its hash (e.g.
    #: ``https://explorer.example/tx/{tx}``); empty: hashes are shown without a link.
    explorer_url: str = ""
    #: Dashboard: the usage oracle's API base URL (e.g. ``https://oracle.example``), for links to a record's Merkle
    #: proof (``/v1/proofs/{source}/{record}``: the records and their proofs live only in the oracle); empty: no link.
    oracle_url: str = ""
    #: HTTP API.
    host: str = "127.0.0.1"
    port: int = 8700
    #: The party portal's public base URL as browsers reach it (``https://billing.example.com``, a path is allowed):
    #: Sign-In with Ethereum messages are bound to its host (``domain``) and URL, and staff invitation links point
    #: to it. Empty means ``http://<host>:<port>`` of the HTTP API above. Behind a proxy or TLS terminator set it:
    #: it is never taken from a request's ``Host`` header, which a relaying site could choose.
    portal_url: str = ""

    @field_validator("disabled")
    @classmethod
    def _known_workers(cls, value: frozenset[str]) -> frozenset[str]:
        from gateway.workers import worker_names

        known = worker_names()
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown worker(s) {', '.join(unknown)} (workers: {', '.join(known)})")
        return value

    @field_validator("portal_url")
    @classmethod
    def _portal_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        value = value.strip().rstrip("/")
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                raise ValueError(f"{value!r} is not an http(s) base URL such as https://billing.example.com")
        return value

    def resolved_portal_url(self) -> str:
        return self.portal_url or f"http://{self.host}:{self.port}"

    @field_validator("explorer_url")
    @classmethod
    def _explorer(cls, value: str) -> str:
        if value and ("{tx}" not in value or not value.startswith(("https://", "http://"))):
            raise ValueError("an http(s) URL with {tx} where the transaction hash goes, e.g. https://explorer.example/tx/{tx}")
        return value

    @field_validator("invoice_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        from gateway.invoicing.numbering import check_pattern
        from settle.errors import ValidationError

        try:
            return check_pattern(value)
        except ValidationError as exc:
            raise ValueError(str(exc)) from None

    def resolved_invoice_dir(self) -> Path:
        return self.invoice_dir if self.invoice_dir is not None else get_settings().runtime_dir / "gateway" / "invoices"

    def resolved_files_dir(self) -> Path:
        return self.files_dir if self.files_dir is not None else get_settings().runtime_dir / "gateway" / "payment-files"

    def resolved_outbox(self) -> Path:
        return self.bank_outbox if self.bank_outbox is not None else get_settings().runtime_dir / "gateway" / "bank" / "outbox"

    def resolved_inbox(self) -> Path:
        return self.bank_inbox if self.bank_inbox is not None else get_settings().runtime_dir / "gateway" / "bank" / "inbox"


def load_settings(**overrides: object) -> GatewaySettings:
    """Settings from ``SETTLE_GATEWAY_<FIELD>`` environment variables, with ``overrides`` (e.g. command-line options)
    on top (``settle.config.settings_from_env``). Lists (``COLLECT_RETRY_SECONDS``, ``DISABLED``) are comma-separated."""
    return settings_from_env("SETTLE_GATEWAY_", GatewaySettings, **overrides)
