"""Disputes as workflows: the texts that go with them, how those texts are bound to the chain, and the local record
of every dispute action.

A party's text (the reason of a dispute; a note on a resolution, a decision or a write-off) never goes on-chain;
its hash does: keccak256 of the text's UTF-8 bytes exactly as written (no trimming, no Unicode normalisation, so
the same text always gives the same hash and anyone can recompute it):

- ``dispute(period, amount, reasonHash)`` carries it as ``reasonHash`` (and ``SettlementDisputed`` repeats it);
- ``resolveDispute``, ``decideDispute`` and ``writeOff`` have no argument for it, so the 32 bytes are appended to
  the call data after the arguments. The contract ignores them (Solidity's decoder reads only the arguments), but
  they are part of the transaction the party signed, so the text is as much the party's as a reason hash is.

The gateway keeps a text only where it finds its hash in the party's own transaction (docs/gateway.md#disputes):
who wrote it is the transaction's sender, never a name someone typed. The command line also writes a JSON record
of each action (text, hash, party, time, transaction) under ``deployments/disputes/<chain-id>/`` before it sends,
so a text is never lost when no gateway is reachable (``settle agreement register-note RECORD`` sends it later).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from settle.chaintypes import SettlementView
from settle.config import get_settings, part_database_url
from settle.deployments import deployments_dir
from settle.errors import ConfigError, ValidationError
from settle.keccak import keccak

__all__ = [
    "FUNCTIONS",
    "MAX_NOTE_CHARS",
    "NOTE_KINDS",
    "RECORD_KIND",
    "check_note",
    "consent_action",
    "note_hash",
    "read_record",
    "settlement_word",
    "suffix_hash",
    "with_note",
    "write_record",
]

#: The dispute actions, as the gateway and the records name them.
NOTE_KINDS = ("dispute", "resolve", "decide", "write_off")
#: The contract function of each action.
FUNCTIONS = {"dispute": "dispute", "resolve": "resolveDispute", "decide": "decideDispute", "write_off": "writeOff"}
#: Longest text accepted (characters): a reason is a few paragraphs; the gateway's request bodies stay far below
#: their 64 KiB limit even with every character escaped.
MAX_NOTE_CHARS = 4_000
RECORD_KIND = "settle.dispute-action/v1"
HASH_BYTES = 32

# The tags the extension hashes consents under (BillingAgreementExtension: RESOLVE_ACTION, WRITE_OFF_ACTION).
_RESOLVE_TAG = keccak(text="ResolveDispute(uint32 period,uint96 agreedAmount,uint256 settlement)")
_WRITE_OFF_TAG = keccak(text="WriteOff(uint32 period,uint256 settlement)")
# Bit positions of the packed settlement word (BillingAgreementBase: `_settlements[period]`).
_PAID_AT, _SETTLED_AT_AT, _STATUS_AT, _VERSION_AT = 96, 192, 232, 240


def check_note(text: Any, field: str = "reason") -> str:
    """``text`` if it can be a dispute text, else a :class:`ValidationError` naming ``field``: a string with
    something besides white space, at most :data:`MAX_NOTE_CHARS` characters, without NUL characters (which
    PostgreSQL cannot store). It is returned unchanged: the hash is of exactly these characters."""
    if not isinstance(text, str):
        raise ValidationError(f"{field}: {type(text).__name__} given; a text is needed")
    if not text.strip():
        raise ValidationError(f"{field}: the text is empty; say what is wrong (it is kept off-chain, its hash goes on-chain)")
    if len(text) > MAX_NOTE_CHARS:
        raise ValidationError(f"{field}: {len(text):,} characters; at most {MAX_NOTE_CHARS:,} are accepted")
    if "\x00" in text:
        raise ValidationError(f"{field}: the text contains a NUL character, which cannot be stored")
    return text


def note_hash(text: str) -> bytes:
    """keccak256 of the text's UTF-8 bytes: what goes on-chain in place of the text."""
    return keccak(text.encode("utf-8"))


@lru_cache(maxsize=1)
def _arity() -> dict[str, int]:
    from settle.compiler import load_artifact

    by_name = {item["name"]: item for item in load_artifact("IBillingAgreement")["abi"] if item.get("type") == "function"}
    return {kind: len(by_name[name]["inputs"]) for kind, name in FUNCTIONS.items()}


def arguments_length(kind: str) -> int:
    """Bytes of the call data of ``kind`` after the selector: every argument is a static 32-byte word."""
    return 32 * _arity()[kind]


def with_note(data: str, note: bytes) -> str:
    """Call data (``0x``-hex) with a note's hash appended after the arguments."""
    if len(note) != HASH_BYTES:
        raise ValueError("a note hash has 32 bytes")
    return data + note.hex()


def suffix_hash(kind: str, data: bytes) -> bytes | None:
    """The note hash appended to the call data ``data`` of a ``kind`` call (selector included), or None when the
    call carries nothing after its arguments (or something that is not one hash)."""
    extra = data[4 + arguments_length(kind) :]
    return bytes(extra) if len(extra) == HASH_BYTES else None


def settlement_word(view: SettlementView) -> int:
    """The settlement as the contract packs it (amount, paid, settledAt, status, termsVersion): consents are given
    to an action that names this word, so a payment or return in between makes an earlier consent lapse."""
    return (
        view.amount
        | view.paid << _PAID_AT
        | view.settled_at << _SETTLED_AT_AT
        | int(view.status) << _STATUS_AT
        | view.terms_version << _VERSION_AT
    )


def consent_action(kind: str, period: int, view: SettlementView, agreed: int | None = None) -> bytes:
    """The ``action`` a party's ``resolveDispute(period, agreed)`` or ``writeOff(period)`` consents to, while the
    settlement is ``view`` (``ConsentGiven(party, action)`` names it; both parties must consent to the same one)."""
    from eth_abi import encode as abi_encode

    word = settlement_word(view)
    if kind == "resolve":
        if agreed is None:
            raise ValueError("a resolution names the agreed amount")
        return keccak(abi_encode(["bytes32", "uint32", "uint96", "uint256"], [_RESOLVE_TAG, period, agreed, word]))
    if kind == "write_off":
        return keccak(abi_encode(["bytes32", "uint32", "uint256"], [_WRITE_OFF_TAG, period, word]))
    raise ValueError(f"{kind} is not given by consent")


# -- local records -------------------------------------------------------------------------------------------------


def records_dir(chain_id: int, deployments: Path | None = None) -> Path:
    """Where the command line keeps its records of dispute actions: beside the deployment record (in
    ``deployments``, by default the configured deployments folder)."""
    return (deployments or deployments_dir()) / "disputes" / str(chain_id)


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_record(document: Mapping[str, Any], path: Path | None = None, *, deployments: Path | None = None) -> Path:
    """Write (or rewrite) a record atomically; a new one gets a file name from its agreement, period, action and
    time, in :func:`records_dir` of ``deployments``."""
    if path is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{str(document['agreement']).lower()}-period-{document['period']}-{document['action']}-{stamp}.json"
        path = records_dir(int(document["chain_id"]), deployments) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    os.replace(tmp, path)
    return path


def read_record(path: str | Path) -> dict[str, Any]:
    """A record written by :func:`write_record`, checked for the fields a registration needs."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"dispute record {path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationError(f"dispute record {path}: not JSON") from None
    if not isinstance(document, dict) or document.get("kind") != RECORD_KIND:
        raise ValidationError(f"dispute record {path}: not a Settle dispute record (kind {RECORD_KIND})")
    for key in ("chain_id", "agreement", "period", "action", "party", "text", "tx_hash"):
        if key not in document:
            raise ValidationError(f"dispute record {path}: '{key}' is missing")
    if document["action"] not in NOTE_KINDS:
        raise ValidationError(f"dispute record {path}: action {document['action']!r} is not one of {', '.join(NOTE_KINDS)}")
    return document


# -- registering a text with the gateway ---------------------------------------------------------------------------

#: The gateway's HTTP API (e.g. ``http://127.0.0.1:8700``): texts are posted to ``/v1/disputes/…/notes``.
GATEWAY_URL_ENV = "SETTLE_GATEWAY_API_URL"
#: Else the gateway's database (SETTLE_GATEWAY_DATABASE_URL or SETTLE_DATABASE_URL), where its command line finds it.

#: Keeps a text in the gateway's database: ``(database URL, chain, record) -> where it went``. The gateway fills
#: this in (the composition root, ``settle_cli``, connects it), so this package never imports the gateway.
DatabaseStore = Callable[[str, Any, Mapping[str, Any]], str]
_database_store: DatabaseStore | None = None


def use_database_store(store: DatabaseStore | None) -> None:
    """Set (or, with None, clear) how a text reaches the gateway's database when no API URL is configured."""
    global _database_store
    _database_store = store


def gateway_target() -> tuple[str, str] | None:
    """``("api", url)`` or ``("database", url)`` of the configured gateway, None when none is configured."""
    url = get_settings().gateway_api_url.strip()
    if url:
        return "api", url.rstrip("/")
    database = part_database_url("gateway").strip()
    if database:
        return "database", database
    return None


def register_note(document: Mapping[str, Any], chain: Any) -> dict[str, Any]:
    """Hand the text of a sent action (a record) to the configured gateway, which checks its hash against the
    transaction on ``chain`` before it keeps it. Returns ``{"registered": bool, "via": …, "detail": …}``; never
    raises for an unreachable or refusing gateway (the record keeps the text)."""
    target = gateway_target()
    if target is None:
        return {"registered": False, "via": None, "detail": f"no gateway configured ({GATEWAY_URL_ENV} or SETTLE_GATEWAY_DATABASE_URL)"}
    via, url = target
    agreement, period = str(document["agreement"]).lower(), int(document["period"])
    try:
        if via == "api":
            detail = _post_note(url, agreement, period, str(document["tx_hash"]), str(document["text"]))
        else:
            if _database_store is None:
                raise ConfigError(
                    f"the gateway's database is configured but this process has no gateway connection: set {GATEWAY_URL_ENV}"
                    " or register the text with 'settle agreement register-note'"
                )
            detail = _database_store(url, chain, document)
    except Exception as exc:  # noqa: BLE001 - whatever failed, the action is done and the record keeps the text
        return {"registered": False, "via": via, "detail": str(exc) or type(exc).__name__}
    return {"registered": True, "via": via, "detail": detail, "registered_at": now_utc()}


def _post_note(url: str, agreement: str, period: int, tx_hash: str, text: str) -> str:
    import httpx

    try:
        answer = httpx.post(f"{url}/v1/disputes/{agreement}/{period}/notes", json={"tx_hash": tx_hash, "text": text}, timeout=30)
    except httpx.HTTPError as exc:
        raise ConfigError(f"the gateway at {url} did not answer: {exc}") from None
    if answer.status_code in (200, 201):
        return f"{url} ({answer.status_code})"
    try:
        reason = answer.json()["detail"]
    except Exception:  # noqa: BLE001 - a body that is not the gateway's error body
        reason = answer.text[:200]
    raise ValidationError(f"the gateway at {url} refused the text ({answer.status_code}): {reason}")
