"""Disputes in the gateway: the texts the parties give with dispute actions, kept off-chain and tied to the chain by
their hash (keccak256 of the UTF-8 text, see :mod:`settle.disputes`).

A text is kept only where its hash is found in the party's own transaction, so who wrote it is that transaction's
sender, never a name someone typed:

- :func:`attach_reason`: a dispute's reason, against the ``reasonHash`` of the ``SettlementDisputed`` event the
  read model holds;
- :func:`verify_transaction` + :func:`store_note`: any action's text, against the transaction itself (the
  ``reasonHash`` argument of ``dispute``, the hash appended to ``resolveDispute``/``decideDispute``/``writeOff``);
- :func:`prepare_transaction`: the unsigned transaction for a party's wallet; its text waits (``tx_hash`` empty)
  until the listener applies the event it causes (:func:`attach_pending`, called by the read model's projector):
  ``SettlementDisputed`` with the same reason hash and sender, ``ConsentGiven`` of the same party to the same
  consent, ``DisputeResolved`` decided by that arbiter at that amount.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.errors import ConflictError, DisputeNoteError, NotFoundError
from gateway.models import Agreement, Dispute, DisputeNote, Settlement, utcnow
from settle.chaintypes import SettlementView
from settle.disputes import FUNCTIONS, NOTE_KINDS, check_note, consent_action, note_hash, suffix_hash, with_note
from settle.errors import ChainError, ContractRevert, ValidationError
from settle.money import parse_minor

UINT96_MAX = 2**96 - 1
TX_HASH_PATTERN = r"^0x[0-9a-fA-F]{64}$"
_TX_HASH = re.compile(TX_HASH_PATTERN)
_KIND_OF = {function: kind for kind, function in FUNCTIONS.items()}
#: A prepared transaction's text, waiting for the party's transaction.
PREPARED = "api:transaction"


@dataclass(frozen=True)
class VerifiedAction:
    """A dispute action found on-chain: who did what, where and when."""

    agreement: str
    period: int
    kind: str
    party: str
    amount: int | None
    tx_hash: str
    block: int
    acted_at: datetime | None


def _hex(value: Any) -> str:
    return "0x" + bytes(value).hex()


def _block_time(chain: Any, block: int) -> datetime:
    return datetime.fromtimestamp(int(chain.w3.eth.get_block(block)["timestamp"]), UTC)


def verify_transaction(chain: Any, agreement: str, period: int, tx_hash: str, text: str) -> VerifiedAction:
    """The dispute action of transaction ``tx_hash`` on ``agreement``'s ``period``, if it succeeded and carries the
    hash of ``text``; :class:`DisputeNoteError` (or :class:`NotFoundError` for a transaction the chain does not
    have) saying what does not fit."""
    from web3.exceptions import TransactionNotFound

    check_note(text, "text")
    if not isinstance(tx_hash, str) or not _TX_HASH.match(tx_hash.strip()):
        raise DisputeNoteError(f"tx_hash: {tx_hash!r} is not a transaction hash (0x and 64 hex digits)")
    tx_hash = tx_hash.strip().lower()
    try:
        tx = chain.w3.eth.get_transaction(tx_hash)
        receipt = chain.w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        raise NotFoundError(f"transaction {tx_hash} is not on chain {chain.chain_id} (or not mined yet)") from None
    except Exception as exc:  # noqa: BLE001 - transport errors of any kind
        raise ChainError(f"reading transaction {tx_hash} failed: {exc}") from None
    target = str(tx.get("to") or "").lower()
    if target != agreement.lower():
        raise DisputeNoteError(f"transaction {tx_hash} was sent to {target or 'no address'}, not to the agreement {agreement.lower()}")
    data = bytes(tx["input"])
    contract = chain.contract("IBillingAgreement", to_checksum_address(agreement))
    try:
        function, args = contract.decode_function_input(data)
    except Exception:  # noqa: BLE001 - call data the agreement's ABI does not decode
        raise DisputeNoteError(f"transaction {tx_hash} calls no function of an agreement") from None
    kind = _KIND_OF.get(function.fn_name)
    if kind is None:
        raise DisputeNoteError(f"transaction {tx_hash} calls {function.fn_name}, not dispute, resolveDispute, decideDispute or writeOff")
    if int(args["period"]) != period:
        raise DisputeNoteError(f"transaction {tx_hash} is about period {args['period']}, not period {period}")
    if int(receipt["status"]) != 1:
        raise DisputeNoteError(f"transaction {tx_hash} reverted: it changed nothing, so no text goes with it")
    carried = bytes(args["reasonHash"]) if kind == "dispute" else suffix_hash(kind, data)
    if carried is None:
        raise DisputeNoteError(
            f"transaction {tx_hash} ({function.fn_name}) carries no text hash after its arguments, so no text can be tied to it"
        )
    if carried != note_hash(text):
        raise DisputeNoteError(
            f"the text's hash {_hex(note_hash(text))} is not the hash {_hex(carried)} transaction {tx_hash} carries: send exactly "
            "the text that was hashed (UTF-8, byte for byte, nothing trimmed)"
        )
    amount = args.get("amount", args.get("agreedAmount"))
    block = int(receipt["blockNumber"])
    try:
        acted_at = _block_time(chain, block)
    except Exception as exc:  # noqa: BLE001 - transport errors of any kind
        raise ChainError(f"reading block {block} failed: {exc}") from None
    return VerifiedAction(
        agreement=agreement.lower(),
        period=period,
        kind=kind,
        party=str(tx["from"]).lower(),
        amount=None if amount is None else int(amount),
        tx_hash=tx_hash,
        block=block,
        acted_at=acted_at,
    )


def store_note(session: Session, chain_id: int, text: str, action: VerifiedAction, *, origin: str) -> tuple[DisputeNote, bool]:
    """Keep ``text`` as the text of ``action`` (verified by the caller); ``(note, False)`` when that transaction's
    text is already kept, :class:`ConflictError` if it were another one."""
    check_note(text, "text")
    digest = _hex(note_hash(text))
    same_action = (
        DisputeNote.chain_id == chain_id,
        DisputeNote.agreement == action.agreement,
        DisputeNote.period == action.period,
        DisputeNote.kind == action.kind,
    )
    existing = session.scalar(select(DisputeNote).where(*same_action, DisputeNote.tx_hash == action.tx_hash))
    if existing is not None:
        if existing.text_hash == digest:
            return existing, False
        raise ConflictError(f"transaction {action.tx_hash} has its text already (hash {existing.text_hash}); it carries one hash only")
    note = session.scalar(
        select(DisputeNote)
        .where(*same_action, DisputeNote.tx_hash.is_(None), DisputeNote.text_hash == digest, DisputeNote.party == action.party)
        .order_by(DisputeNote.id)
    )
    if note is None:
        note = DisputeNote(
            chain_id=chain_id,
            agreement=action.agreement,
            period=action.period,
            kind=action.kind,
            text=text,
            text_hash=digest,
            amount=action.amount,
            party=action.party,
            origin=origin,
            received_at=utcnow(),
        )
        session.add(note)
    note.tx_hash, note.block_number, note.acted_at, note.attached_at = action.tx_hash, action.block, action.acted_at, utcnow()
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(f"the text of transaction {action.tx_hash} was stored at the same moment by another request") from None
    return note, True


def attach_reason(session: Session, agreement: Agreement, period: int, text: str, *, chain: Any = None) -> tuple[DisputeNote, bool]:
    """Keep ``text`` as the reason of the dispute on ``period`` whose on-chain ``reasonHash`` it hashes to."""
    check_note(text, "text")
    disputes = list(
        session.scalars(
            select(Dispute)
            .where(Dispute.agreement_id == agreement.id, Dispute.period == period)
            .order_by(Dispute.opened_block.desc(), Dispute.id.desc())
        )
    )
    if not disputes:
        raise NotFoundError(
            f"no dispute on period {period} of {agreement.address} is known to the gateway (the listener adds a dispute once it "
            "has read its block)"
        )
    digest = _hex(note_hash(text))
    match = next((d for d in disputes if d.reason_hash == digest), None)
    if match is None:
        latest = disputes[0]
        kept = session.scalar(
            select(DisputeNote).where(
                DisputeNote.chain_id == agreement.chain_id,
                DisputeNote.agreement == agreement.address,
                DisputeNote.kind == "dispute",
                DisputeNote.tx_hash == latest.opened_tx,
            )
        )
        if kept is not None:
            raise ConflictError(
                f"the dispute on period {period} (tx {latest.opened_tx}) has its reason already (hash {latest.reason_hash}); "
                "no other text has that hash"
            )
        raise DisputeNoteError(
            f"the text's hash {digest} is not the reason hash {latest.reason_hash} the payer's dispute put on-chain "
            f"(tx {latest.opened_tx}): send exactly the text that was hashed (UTF-8, byte for byte, nothing trimmed)"
        )
    acted_at = None
    if chain is not None:
        try:
            acted_at = _block_time(chain, match.opened_block)
        except Exception:  # noqa: BLE001 - the time is a detail; the hash is what binds the text
            acted_at = None
    action = VerifiedAction(
        agreement.address, period, "dispute", match.opened_by, match.amount, match.opened_tx, match.opened_block, acted_at
    )
    return store_note(session, agreement.chain_id, text, action, origin="api:reason")


# -- transactions for a party's wallet --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedTransaction:
    to: str
    data: str
    chain_id: int
    signer: str
    function: str
    arguments: dict[str, Any]
    text_hash: str | None
    note: DisputeNote | None


def prepare_transaction(
    session: Session, chain: Any, agreement: Agreement, period: int, *, action: str, amount: str | None, text: str | None, party: str
) -> PreparedTransaction:
    """The unsigned call of ``action`` for ``party`` to sign, checked by simulating it from ``party``; its text (if
    any) is kept waiting for the transaction."""
    if action not in NOTE_KINDS:
        raise ValidationError(f"action: {action!r} is not one of {', '.join(NOTE_KINDS)}")
    if text is not None:
        check_note(text, "reason")
    elif action == "dispute":
        raise ValidationError("reason: a dispute needs its reason (kept here, its hash goes on-chain)")
    settlement = session.scalar(select(Settlement).where(Settlement.agreement_id == agreement.id, Settlement.period == period))
    if settlement is None:
        raise NotFoundError(f"period {period} of {agreement.address} is not settled (or not known to the gateway)")
    minor: int | None = None
    if action == "write_off":
        if amount is not None:
            raise ValidationError("amount: a write-off takes no amount (it writes off what is open)")
    elif amount is None:
        raise ValidationError(f"amount: {action} needs the amount, in {agreement.currency} (e.g. '40.00')")
    else:
        minor = parse_minor(amount, agreement.minor_digits, field="amount", maximum=UINT96_MAX)
    digest = note_hash(text) if text is not None else None
    contract = chain.contract("IBillingAgreement", to_checksum_address(agreement.address))
    f = contract.functions
    if action == "dispute":
        assert minor is not None and digest is not None
        fn = f.dispute(period, minor, digest)
    elif action == "resolve":
        fn = f.resolveDispute(period, minor)
    elif action == "decide":
        fn = f.decideDispute(period, minor)
    else:
        fn = f.writeOff(period)
    data = fn._encode_transaction_data()
    if digest is not None and action != "dispute":
        data = with_note(data, digest)
    signer = to_checksum_address(party)
    try:
        chain.estimate({"to": contract.address, "data": data}, signer)
    except ContractRevert as exc:
        from settle.operator import explain_refusal, read_dispute_context
        from settle.reverts import explain

        label = f"{FUNCTIONS[action]} by {signer.lower()}"
        refusal = explain_refusal(exc, read_dispute_context(chain, contract, period), action, label, chain, field="amount")
        raise ValidationError(str(refusal) if refusal is not exc else explain(exc, label)) from None
    action_hash = None
    if action in ("resolve", "write_off"):
        view = SettlementView.decode(chain.call(contract.functions.settlement(period)))
        action_hash = _hex(consent_action(action, period, view, minor))
    note = None
    if text is not None:
        assert digest is not None
        waiting = (
            DisputeNote.chain_id == agreement.chain_id,
            DisputeNote.agreement == agreement.address,
            DisputeNote.period == period,
            DisputeNote.kind == action,
            DisputeNote.party == signer.lower(),
            DisputeNote.text_hash == _hex(digest),
            DisputeNote.tx_hash.is_(None),
        )
        note = session.scalar(select(DisputeNote).where(*waiting).order_by(DisputeNote.id))
        if note is None:
            note = DisputeNote(
                chain_id=agreement.chain_id,
                agreement=agreement.address,
                period=period,
                kind=action,
                text=text,
                text_hash=_hex(digest),
                party=signer.lower(),
                origin=PREPARED,
                received_at=utcnow(),
            )
            session.add(note)
        note.amount, note.action_hash = minor, action_hash
        session.flush()
    _, args = contract.decode_function_input(fn._encode_transaction_data())
    return PreparedTransaction(
        to=contract.address.lower(),
        data=data,
        chain_id=chain.chain_id,
        signer=signer.lower(),
        function=FUNCTIONS[action],
        arguments={k: _hex(v) if isinstance(v, bytes) else int(v) for k, v in args.items()},
        text_hash=None if digest is None else _hex(digest),
        note=note,
    )


# -- the listener's side -------------------------------------------------------------------------------------------------


def attach_pending(
    session: Session,
    chain_id: int,
    agreement: str,
    *,
    party: str,
    tx_hash: str,
    block: int,
    kind: str | None = None,
    period: int | None = None,
    text_hash: str | None = None,
    action_hash: str | None = None,
    amount: int | None = None,
) -> DisputeNote | None:
    """Give the first prepared text that waits for this event (same party, and the given kind, period, hash,
    consent or amount) the event's transaction. Called by the projector inside the listener's transaction, so it
    only reads and updates rows, and never takes a transaction that has a text already."""
    query = select(DisputeNote).where(
        DisputeNote.chain_id == chain_id,
        DisputeNote.agreement == agreement,
        DisputeNote.tx_hash.is_(None),
        DisputeNote.party == party.lower(),
    )
    for column, value in (
        (DisputeNote.kind, kind),
        (DisputeNote.period, period),
        (DisputeNote.text_hash, text_hash),
        (DisputeNote.action_hash, action_hash),
        (DisputeNote.amount, amount),
    ):
        if value is not None:
            query = query.where(column == value)
    note = session.scalar(query.order_by(DisputeNote.id))
    if note is None:
        return None
    taken = session.scalar(
        select(DisputeNote.id).where(
            DisputeNote.chain_id == chain_id,
            DisputeNote.agreement == agreement,
            DisputeNote.period == note.period,
            DisputeNote.kind == note.kind,
            DisputeNote.tx_hash == tx_hash,
        )
    )
    if taken is not None:
        return None
    note.tx_hash, note.block_number, note.attached_at = tx_hash, block, utcnow()
    return note


def detach_after(session: Session, chain_id: int, after_block: int) -> int:
    """After a reorg: prepared texts attached by events of the abandoned blocks wait again (the events that remain
    attach them anew). Texts verified against their transaction stay: the transaction carries their hash wherever
    it is mined."""
    notes = list(
        session.scalars(
            select(DisputeNote).where(
                DisputeNote.chain_id == chain_id, DisputeNote.origin == PREPARED, DisputeNote.block_number > after_block
            )
        )
    )
    for note in notes:
        note.tx_hash, note.block_number, note.attached_at = None, None, None
    session.flush()
    return len(notes)


# -- queries ------------------------------------------------------------------------------------------------------------


def notes_by_period(session: Session, agreement: Agreement, periods: Iterable[int]) -> dict[int, list[DisputeNote]]:
    found: dict[int, list[DisputeNote]] = {}
    wanted = sorted(set(periods))
    if not wanted:
        return found
    for note in session.scalars(
        select(DisputeNote)
        .where(DisputeNote.chain_id == agreement.chain_id, DisputeNote.agreement == agreement.address, DisputeNote.period.in_(wanted))
        .order_by(DisputeNote.id)
    ):
        found.setdefault(note.period, []).append(note)
    return found


def notes_of(dispute: Dispute, notes: Iterable[DisputeNote], *, latest: bool) -> list[DisputeNote]:
    """The texts that belong to ``dispute``: its reason, the texts of transactions between its opening and its end,
    and (while it is open) resolutions, decisions and write-offs prepared for a party's wallet and not yet sent."""
    mine = []
    for note in notes:
        if note.tx_hash is None:
            if latest and dispute.status == "open" and note.kind != "dispute":
                mine.append(note)
        elif note.kind == "dispute":
            if note.tx_hash == dispute.opened_tx:
                mine.append(note)
        elif note.block_number is not None and note.block_number >= dispute.opened_block:
            if dispute.closed_block is None or note.block_number <= dispute.closed_block:
                mine.append(note)
    return mine
