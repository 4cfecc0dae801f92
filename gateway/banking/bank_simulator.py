"""A bank for tests and demos: it reads the pain.008 / pain.001 files the gateway handed over (the connector's
outbox folder) and writes camt.053 statements into the inbox folder, as a bank behind an EBICS client would.

What it books, per payment-information block of a file:

* pain.008 (direct debits): on the collection date one collective credit on the creditor's account (``Btch`` plus
  one ``TxDtls`` per debit, ``PMNT/IDDT/ESDD`` or ``BBDD``) and a debit on each debtor's account
  (``PMNT/RDDT``). A returned debit (AM04, MD06, AC04, MS03 …) is booked ``after_days`` business days later:
  a debit with ``RtrInf`` on the creditor's account (``PMNT/IDDT/UPDD``) and a credit on the debtor's.
* pain.001 (credit transfers): on the execution date one collective debit on the debtor's account
  (``PMNT/ICDT/ESCT``) and a credit on each creditor's account (``PMNT/RCDT/ESCT``). A returned transfer never
  reaches the creditor; the debtor is credited back with ``RtrInf`` (``PMNT/ICDT/RRTN``) after the delay.

* incoming transfers a payer makes outside Settle (:meth:`BankSimulator.incoming_transfer`: pay on invoice,
  collective transfers without references, a wrong reference typed by hand): queued in the state file and booked on
  the next :meth:`~BankSimulator.run` as a credit on the creditor's account on the given day (``PMNT/RCDT/ESCT``,
  the debtor as related party, the free text as ``RmtInf/Ustrd``, ``EndToEndId`` ``NOTPROVIDED`` unless given).

Returns are chosen by end-to-end id, or by rule (a share of all transactions, decided per transaction by a
generator seeded with ``seed`` and the end-to-end id): the same files and seed always give the same statements,
byte for byte. One statement per account and booking date, with running sequence numbers and balances kept in a
small state file next to the outbox; files already processed (by SHA-256) are skipped, so running it again
books nothing twice. Every statement is validated against the camt.053 XSD before it is written.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import random
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path

from lxml import etree

from gateway.banking import iso20022, target2
from gateway.banking.bank import write_atomic
from gateway.banking.camt import minor_digits
from gateway.errors import BankFileError
from gateway.parties.masterdata import iban as valid_iban
from settle.errors import ValidationError
from settle.money import InvalidAmount, format_minor, parse_minor

log = logging.getLogger(__name__)

CAMT_VERSIONS = ("camt.053.001.02", "camt.053.001.08")
#: Return reasons the simulator knows (ISO 20022 external return reason codes).
RETURN_REASONS = {
    "AC04": "Closed account number",
    "AC06": "Blocked account",
    "AM04": "Insufficient funds",
    "MD01": "No mandate",
    "MD06": "Refund request by end customer",
    "MS02": "Not specified reason customer generated",
    "MS03": "Not specified reason agent generated",
}
STATE_FILE = ".bank-simulator.json"
#: Bank transaction code of a received SEPA credit transfer.
_INCOMING_CODE = ("PMNT", "RCDT", "ESCT")
_IBAN_SHAPE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}$")


@dataclass(frozen=True)
class ReturnRule:
    """Return a transaction with ``reason``: the one with ``end_to_end_id``, or (without it) a ``rate`` share."""

    reason: str
    end_to_end_id: str | None = None
    rate: float = 0.0
    after_days: int = 2

    def __post_init__(self) -> None:
        if self.reason not in RETURN_REASONS:
            raise ValidationError(f"return reason: {self.reason!r} is not one of {', '.join(sorted(RETURN_REASONS))}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValidationError(f"return rate: {self.rate!r} must be between 0 and 1")
        if self.after_days < 0:
            raise ValidationError(f"return delay: {self.after_days} business days must not be negative")


@dataclass(frozen=True)
class _Tx:
    end_to_end_id: str
    amount: int
    currency: str
    name: str | None
    iban: str | None
    mandate_id: str | None
    creditor_reference: str | None
    unstructured: str | None
    #: What tells the bank's references of this transaction apart (default: the end-to-end id).
    key: str | None = None


@dataclass
class _Booking:
    account: str
    account_name: str | None
    day: date
    credit: bool
    bank_tx_code: tuple[str, str, str]
    transactions: list[_Tx]
    counterparty_is_debtor: bool
    batch: tuple[str | None, str | None] | None = None  # (message id, payment information id)
    return_reason: str | None = None
    reversal: bool = False


@dataclass
class SimulationResult:
    statements: list[Path] = field(default_factory=list)
    processed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Ids of the incoming transfers booked by this run.
    incoming: list[str] = field(default_factory=list)


#: Longest unstructured remittance text (``RmtInf/Ustrd``) and end-to-end id in SEPA.
_MAX_REMITTANCE = 140
_MAX_END_TO_END = 35


class BankSimulator:
    """See the module docstring. ``outbox``: where pain files arrive; ``inbox``: where statements go."""

    def __init__(
        self,
        outbox: Path | str,
        inbox: Path | str,
        *,
        returns: Sequence[ReturnRule] = (),
        seed: int = 0,
        camt_version: str = "camt.053.001.08",
    ) -> None:
        if camt_version not in CAMT_VERSIONS:
            raise ValidationError(f"camt version: {camt_version!r} is not one of {', '.join(CAMT_VERSIONS)}")
        self.outbox = Path(outbox)
        self.inbox = Path(inbox)
        self.returns = tuple(returns)
        self.seed = seed
        self.camt_version = camt_version
        self.state_path = self.outbox / STATE_FILE

    # -- state ----------------------------------------------------------------------------------------------------

    def _load_state(self) -> dict:
        state = json.loads(self.state_path.read_text()) if self.state_path.is_file() else {}
        state.setdefault("processed", {})
        state.setdefault("accounts", {})
        state.setdefault("incoming", [])
        return state

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Holds the simulator's lock file: a transfer queued while :meth:`run` books is neither lost nor doubled."""
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.state_path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _save_state(self, state: dict) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.state_path, json.dumps(state, indent=2, sort_keys=True).encode())

    # -- transfers from outside Settle --------------------------------------------------------------------------------

    def incoming_transfer(
        self,
        *,
        creditor_iban: str,
        creditor_name: str,
        debtor_iban: str,
        debtor_name: str,
        amount: int,
        currency: str = "EUR",
        day: date,
        remittance: str | None = None,
        end_to_end_id: str | None = None,
        transfer_id: str | None = None,
    ) -> str:
        """Queue a SEPA credit transfer that ``debtor_name`` makes on its own (outside Settle) to ``creditor_iban``:
        the next :meth:`run` books it on the creditor's account on ``day`` and returns its statement.

        ``amount`` is in cents; ``remittance`` the free text the payer typed (``RmtInf/Ustrd``, at most 140
        characters); ``end_to_end_id`` the payer's reference (``NOTPROVIDED`` when none). ``transfer_id`` names the
        transfer (default: derived from all the other arguments): the same transfer queued again — a caller
        restarted after a crash — is booked once; two equal transfers on one day need two ids. The queue lives in
        the state file, written atomically before this returns. Returns the bank reference (``Refs/AcctSvcrRef``)
        the transaction will carry in the statement.
        """
        creditor = valid_iban(creditor_iban, "incoming transfer: creditor IBAN", ValidationError)
        debtor = valid_iban(debtor_iban, "incoming transfer: debtor IBAN", ValidationError)
        if currency != "EUR":
            raise ValidationError(f"incoming transfer: currency {currency!r}; a SEPA credit transfer is in EUR")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise ValidationError(f"incoming transfer: amount {amount!r} must be a positive integer of cents")
        if not isinstance(day, date):
            raise ValidationError(f"incoming transfer: day {day!r} is not a date")
        names = {"creditor name": creditor_name, "debtor name": debtor_name}
        for label, name in names.items():
            if not isinstance(name, str) or not name.strip():
                raise ValidationError(f"incoming transfer: the {label} must not be empty")
        if remittance is not None and not 0 < len(remittance.strip()) <= _MAX_REMITTANCE:
            raise ValidationError(f"incoming transfer: remittance text must have 1 to {_MAX_REMITTANCE} characters")
        if end_to_end_id is not None and not 0 < len(end_to_end_id.strip()) <= _MAX_END_TO_END:
            raise ValidationError(f"incoming transfer: end-to-end id must have 1 to {_MAX_END_TO_END} characters")
        transfer = {
            "creditor_iban": creditor,
            "creditor_name": creditor_name.strip(),
            "debtor_iban": debtor,
            "debtor_name": debtor_name.strip(),
            "amount": amount,
            "currency": currency,
            "day": day.isoformat(),
            "remittance": remittance.strip() if remittance is not None else None,
            "end_to_end_id": end_to_end_id.strip() if end_to_end_id is not None else None,
        }
        if transfer_id is None:
            transfer_id = "IN" + hashlib.sha256(json.dumps(transfer, sort_keys=True).encode()).hexdigest()[:16].upper()
        transfer["id"] = transfer_id
        with self._locked():
            return self._queue(transfer, transfer_id)

    def _queue(self, transfer: dict, transfer_id: str) -> str:
        state = self._load_state()
        queued = next((t for t in state["incoming"] if t["id"] == transfer_id), None)
        if queued is None:
            state["incoming"].append({**transfer, "booked": False})
            self._save_state(state)
        elif {k: v for k, v in queued.items() if k != "booked"} != transfer:
            raise ValidationError(f"incoming transfer: id {transfer_id!r} is already queued for another transfer")
        day = date.fromisoformat(transfer["day"])
        return self._tx_ref(transfer["creditor_iban"], day, "CRDT", _INCOMING_CODE, transfer_id)

    def _incoming_bookings(self, state: dict) -> tuple[list[_Booking], list[str]]:
        """The queued incoming transfers not booked yet, each a credit on the creditor's account (marked booked in
        ``state``, which the caller writes after the statements)."""
        bookings, booked = [], []
        for transfer in state["incoming"]:
            if transfer["booked"]:
                continue
            tx = _Tx(
                end_to_end_id=transfer["end_to_end_id"] or "NOTPROVIDED",
                amount=transfer["amount"],
                currency=transfer["currency"],
                name=transfer["debtor_name"],
                iban=transfer["debtor_iban"],
                mandate_id=None,
                creditor_reference=None,
                unstructured=transfer["remittance"],
                key=transfer["id"],
            )
            day = date.fromisoformat(transfer["day"])
            bookings.append(_Booking(transfer["creditor_iban"], transfer["creditor_name"], day, True, _INCOMING_CODE, [tx], True))
            transfer["booked"] = True
            booked.append(transfer["id"])
        return bookings, booked

    # -- main loop -------------------------------------------------------------------------------------------------

    def run(self) -> SimulationResult:
        """Book every new payment file and every queued incoming transfer, and write the statements that result."""
        with self._locked():
            return self._run()

    def _run(self) -> SimulationResult:
        result = SimulationResult()
        state = self._load_state()
        bookings: list[_Booking] = []
        files = self.outbox.iterdir() if self.outbox.is_dir() else iter(())
        for path in sorted(p for p in files if p.is_file() and p.suffix == ".xml" and not p.name.startswith(".")):
            content = path.read_bytes()
            digest = hashlib.sha256(content).hexdigest()
            if digest in state["processed"]:
                continue
            try:
                bookings.extend(self._book_file(content, path.name))
            except ValidationError as exc:
                result.problems.append(f"{path.name}: {exc}")
                continue
            state["processed"][digest] = path.name
            result.processed.append(path.name)
        incoming, result.incoming = self._incoming_bookings(state)
        bookings.extend(incoming)
        groups: dict[tuple[str, date], list[_Booking]] = defaultdict(list)
        for booking in bookings:
            groups[(booking.account, booking.day)].append(booking)
        for account, day in sorted(groups, key=lambda key: (key[1], _label(key[0]))):
            result.statements.append(self._write_statement(state, account, day, groups[(account, day)]))
        if result.processed or result.incoming:
            self._save_state(state)
        return result

    # -- reading pain files ----------------------------------------------------------------------------------------------

    def _book_file(self, content: bytes, name: str) -> list[_Booking]:
        root = iso20022.parse_xml(content, what=f"payment file {name}", error=BankFileError)
        body = next((c for c in root if isinstance(c.tag, str)), None)
        kind = iso20022.local(body) if body is not None else None
        if body is not None and kind == "CstmrDrctDbtInitn":
            return self._book_direct_debits(body)
        if body is not None and kind == "CstmrCdtTrfInitn":
            return self._book_transfers(body)
        raise BankFileError(f"payment file {name}: <{kind}> is neither a pain.008 nor a pain.001 message")

    def _return_for(self, end_to_end_id: str) -> ReturnRule | None:
        for rule in self.returns:
            if rule.end_to_end_id is not None and rule.end_to_end_id == end_to_end_id:
                return rule
        for rule in self.returns:
            if rule.end_to_end_id is None and rule.rate > 0:
                if random.Random(f"{self.seed}:{rule.reason}:{end_to_end_id}").random() < rule.rate:
                    return rule
        return None

    def _book_direct_debits(self, body: iso20022.Element) -> list[_Booking]:
        message_id = iso20022.text(body, "GrpHdr/MsgId")
        bookings = []
        for block in iso20022.children(body, "PmtInf"):
            day = _business_day(iso20022.text(block, "ReqdColltnDt"))
            creditor = _iban(block, "CdtrAcct/Id/IBAN")
            creditor_name = iso20022.text(block, "Cdtr/Nm")
            sub_family = "BBDD" if iso20022.text(block, "PmtTpInf/LclInstrm/Cd") == "B2B" else "ESDD"
            transactions = [
                _Tx(
                    end_to_end_id=iso20022.text(tx, "PmtId/EndToEndId") or "NOTPROVIDED",
                    amount=_minor(iso20022.find(tx, "InstdAmt")),
                    currency=_currency(iso20022.find(tx, "InstdAmt")),
                    name=iso20022.text(tx, "Dbtr/Nm"),
                    iban=_iban(tx, "DbtrAcct/Id/IBAN"),
                    mandate_id=iso20022.text(tx, "DrctDbtTx/MndtRltdInf/MndtId"),
                    creditor_reference=iso20022.text(tx, "RmtInf/Strd/CdtrRefInf/Ref"),
                    unstructured=iso20022.text(tx, "RmtInf/Ustrd"),
                )
                for tx in iso20022.children(block, "DrctDbtTxInf")
            ]
            if not transactions:
                continue
            block_id = iso20022.text(block, "PmtInfId")
            bookings.append(
                _Booking(creditor, creditor_name, day, True, ("PMNT", "IDDT", sub_family), transactions, True, (message_id, block_id))
            )
            for tx in transactions:
                if tx.iban:
                    bookings.append(_Booking(tx.iban, tx.name, day, False, ("PMNT", "RDDT", sub_family), [tx], False))
                rule = self._return_for(tx.end_to_end_id)
                if rule is not None:
                    later = target2.add_business_days(day, rule.after_days)
                    code = ("PMNT", "IDDT", "UPDD")
                    bookings.append(_Booking(creditor, creditor_name, later, False, code, [tx], True, None, rule.reason, True))
                    if tx.iban:
                        bookings.append(
                            _Booking(tx.iban, tx.name, later, True, ("PMNT", "RDDT", "UPDD"), [tx], False, None, rule.reason, True)
                        )
        return bookings

    def _book_transfers(self, body: iso20022.Element) -> list[_Booking]:
        message_id = iso20022.text(body, "GrpHdr/MsgId")
        bookings = []
        for block in iso20022.children(body, "PmtInf"):
            day = _business_day(
                iso20022.text(block, "ReqdExctnDt/Dt") or iso20022.text(block, "ReqdExctnDt/DtTm") or iso20022.text(block, "ReqdExctnDt")
            )
            debtor = _iban(block, "DbtrAcct/Id/IBAN")
            debtor_name = iso20022.text(block, "Dbtr/Nm")
            transactions = [
                _Tx(
                    end_to_end_id=iso20022.text(tx, "PmtId/EndToEndId") or "NOTPROVIDED",
                    amount=_minor(iso20022.find(tx, "Amt/InstdAmt")),
                    currency=_currency(iso20022.find(tx, "Amt/InstdAmt")),
                    name=iso20022.text(tx, "Cdtr/Nm"),
                    iban=_iban(tx, "CdtrAcct/Id/IBAN"),
                    mandate_id=None,
                    creditor_reference=iso20022.text(tx, "RmtInf/Strd/CdtrRefInf/Ref"),
                    unstructured=iso20022.text(tx, "RmtInf/Ustrd"),
                )
                for tx in iso20022.children(block, "CdtTrfTxInf")
            ]
            if not transactions:
                continue
            block_id = iso20022.text(block, "PmtInfId")
            bookings.append(
                _Booking(debtor, debtor_name, day, False, ("PMNT", "ICDT", "ESCT"), transactions, False, (message_id, block_id))
            )
            for tx in transactions:
                rule = self._return_for(tx.end_to_end_id)
                if rule is None:
                    if tx.iban:
                        bookings.append(_Booking(tx.iban, tx.name, day, True, ("PMNT", "RCDT", "ESCT"), [tx], True))
                    continue
                later = target2.add_business_days(day, rule.after_days)
                code = ("PMNT", "ICDT", "RRTN")
                bookings.append(_Booking(debtor, debtor_name, later, True, code, [tx], False, None, rule.reason, True))
        return bookings

    # -- writing camt.053 -----------------------------------------------------------------------------------------------

    def _ref(self, *parts: object) -> str:
        digest = hashlib.sha256("|".join(map(str, (self.seed, *parts))).encode()).hexdigest()[:20].upper()
        return f"SIM{digest}"

    def _tx_ref(self, account: str, day: date, indicator: str, code: tuple[str, str, str], key: str) -> str:
        """The bank reference (``Refs/AcctSvcrRef``) of one transaction."""
        return self._ref("tx", account, day, indicator, code, key)

    def _write_statement(self, state: dict, account: str, day: date, bookings: list[_Booking]) -> Path:
        account_state = state["accounts"].setdefault(account, {"sequence": 0, "balance": 0})
        account_state["sequence"] += 1
        sequence = account_state["sequence"]
        opening = account_state["balance"]
        closing = opening + sum((1 if b.credit else -1) * sum(t.amount for t in b.transactions) for b in bookings)
        account_state["balance"] = closing
        label = _label(account)
        message_id = f"SIM{day:%Y%m%d}{label}{sequence:05d}"
        created = datetime.combine(day, time(18, 0), tzinfo=UTC)
        v2 = self.camt_version.endswith(".02")
        ns = f"urn:iso:std:iso:20022:tech:xsd:{self.camt_version}"

        def el(parent: etree._Element, tag: str, value: str | None = None, **attrib: str) -> etree._Element:
            node = etree.SubElement(parent, f"{{{ns}}}{tag}", attrib)
            if value is not None:
                node.text = value
            return node

        def amount(parent: etree._Element, tag: str, minor: int, currency: str = "EUR") -> None:
            el(parent, tag, format_minor(minor, minor_digits(currency)), Ccy=currency)

        root = etree.Element(f"{{{ns}}}Document", nsmap={None: ns})
        body = el(root, "BkToCstmrStmt")
        header = el(body, "GrpHdr")
        el(header, "MsgId", message_id)
        el(header, "CreDtTm", created.isoformat())
        statement = el(body, "Stmt")
        el(statement, "Id", f"{message_id}-1")
        el(statement, "ElctrncSeqNb", str(sequence))
        el(statement, "CreDtTm", created.isoformat())
        acct = el(statement, "Acct")
        _account_id(el, acct, account)
        el(acct, "Ccy", "EUR")
        for code, value in (("OPBD", opening), ("CLBD", closing)):
            balance = el(statement, "Bal")
            el(el(el(balance, "Tp"), "CdOrPrtry"), "Cd", code)
            amount(balance, "Amt", abs(value))
            el(balance, "CdtDbtInd", "CRDT" if value >= 0 else "DBIT")
            el(el(balance, "Dt"), "Dt", day.isoformat())
        for number, booking in enumerate(bookings, start=1):
            total = sum(t.amount for t in booking.transactions)
            indicator = "CRDT" if booking.credit else "DBIT"
            first = booking.transactions[0]
            key = booking.batch[1] if booking.batch else (first.key or first.end_to_end_id)
            entry = el(statement, "Ntry")
            el(entry, "NtryRef", str(number))
            amount(entry, "Amt", total)
            el(entry, "CdtDbtInd", indicator)
            if booking.reversal:
                el(entry, "RvslInd", "true")
            if v2:
                el(entry, "Sts", "BOOK")
            else:
                el(el(entry, "Sts"), "Cd", "BOOK")
            el(el(entry, "BookgDt"), "Dt", day.isoformat())
            el(el(entry, "ValDt"), "Dt", day.isoformat())
            el(entry, "AcctSvcrRef", self._ref("entry", account, day, indicator, booking.bank_tx_code, key))
            domain = el(el(entry, "BkTxCd"), "Domn")
            el(domain, "Cd", booking.bank_tx_code[0])
            family = el(domain, "Fmly")
            el(family, "Cd", booking.bank_tx_code[1])
            el(family, "SubFmlyCd", booking.bank_tx_code[2])
            details = el(entry, "NtryDtls")
            if booking.batch is not None:
                batch = el(details, "Btch")
                if booking.batch[0]:
                    el(batch, "MsgId", booking.batch[0])
                if booking.batch[1]:
                    el(batch, "PmtInfId", booking.batch[1])
                el(batch, "NbOfTxs", str(len(booking.transactions)))
                amount(batch, "TtlAmt", total)
                el(batch, "CdtDbtInd", indicator)
            for tx in booking.transactions:
                self._detail(el, amount, details, booking, tx, indicator, account, day, v2)
        schema = self.camt_version
        iso20022.validate(root, schema, what=f"simulated statement {message_id}", error=BankFileError)
        etree.indent(root, space="  ")
        content = b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root, encoding="UTF-8") + b"\n"
        path = self.inbox / f"camt053_{day:%Y%m%d}_{label}_{sequence:05d}.xml"
        write_atomic(path, content)
        log.info("simulated bank wrote %s (%d entries)", path.name, len(bookings))
        return path

    def _detail(self, el, amount, details, booking: _Booking, tx: _Tx, indicator: str, account: str, day: date, v2: bool) -> None:
        detail = el(details, "TxDtls")
        refs = el(detail, "Refs")
        el(refs, "AcctSvcrRef", self._tx_ref(account, day, indicator, booking.bank_tx_code, tx.key or tx.end_to_end_id))
        el(refs, "EndToEndId", tx.end_to_end_id)
        if tx.mandate_id:
            el(refs, "MndtId", tx.mandate_id)
        if v2:
            amount(el(el(detail, "AmtDtls"), "TxAmt"), "Amt", tx.amount, tx.currency)
        else:
            amount(detail, "Amt", tx.amount, tx.currency)
            el(detail, "CdtDbtInd", indicator)
        if tx.name or tx.iban:
            parties = el(detail, "RltdPties")
            side = "Dbtr" if booking.counterparty_is_debtor else "Cdtr"
            if tx.name:
                party = el(parties, side)
                el(party if v2 else el(party, "Pty"), "Nm", tx.name)
            if tx.iban:
                _account_id(el, el(parties, f"{side}Acct"), tx.iban)
        if tx.creditor_reference or tx.unstructured:
            remittance = el(detail, "RmtInf")
            if tx.unstructured:
                el(remittance, "Ustrd", tx.unstructured)
            if tx.creditor_reference:
                reference = el(el(remittance, "Strd"), "CdtrRefInf")
                kind = el(reference, "Tp")
                el(el(kind, "CdOrPrtry"), "Cd", "SCOR")
                el(kind, "Issr", "ISO")
                el(reference, "Ref", tx.creditor_reference)
        if booking.return_reason:
            info = el(detail, "RtrInf")
            el(el(info, "Rsn"), "Cd", booking.return_reason)
            el(info, "AddtlInf", RETURN_REASONS[booking.return_reason])


def _label(iban: str) -> str:
    """A short stable label for an account (file names never carry IBANs)."""
    return hashlib.sha256(iban.encode()).hexdigest()[:8].upper()


def _iban(node: iso20022.Element, path: str) -> str:
    """The account at ``path`` (``…/Id/IBAN``, or the ``…/Id/Othr/Id`` other producers sometimes use)."""
    value = iso20022.text(node, path) or iso20022.text(node, path.replace("/IBAN", "/Othr/Id"))
    if not value:
        raise BankFileError(f"payment file: <{path}> is missing")
    return "".join(value.split()).upper()


def _account_id(el, parent, account: str) -> None:
    identification = el(parent, "Id")
    if _IBAN_SHAPE.match(account):
        el(identification, "IBAN", account)
    else:
        el(el(identification, "Othr"), "Id", account)


def _minor(node: iso20022.Element | None) -> int:
    if node is None or not node.text:
        raise BankFileError("payment file: a transaction has no amount")
    currency = node.get("Ccy") or "EUR"
    try:
        return parse_minor(node.text, minor_digits(currency), field=f"payment file: amount in {currency}")
    except InvalidAmount as exc:
        raise BankFileError(str(exc)) from None


def _currency(node: iso20022.Element | None) -> str:
    """The amount's currency (``Ccy``); EUR where it is not given (a missing amount is ``_minor``'s error)."""
    return (node.get("Ccy") if node is not None else None) or "EUR"


def _business_day(value: str | None) -> date:
    if not value:
        raise BankFileError("payment file: no requested collection/execution date")
    try:
        return target2.business_day_on_or_after(date.fromisoformat(value[:10]))
    except ValueError:
        raise BankFileError(f"payment file: {value!r} is not a date") from None
