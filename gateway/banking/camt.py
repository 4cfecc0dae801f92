"""A safe, version-agnostic reader for ISO 20022 bank-to-customer messages: camt.053 (statement), camt.054
(debit/credit notification) and camt.052 (account report), versions .02/.03/.04/.08 and national variants.

Elements are found by local name (namespace ignored), so every version reads alike. Input goes through
:func:`gateway.banking.iso20022.parse_xml`: no DTDs, no entity expansion, no network, size limits (hostile XML is a
:class:`StatementError`, never an expansion). Amounts become ``int`` minor units of their currency, exactly at any
number of digits (:func:`settle.money.parse_minor`); an amount with more decimals than its currency has is an error,
not a rounding.

Each entry (``Ntry``) keeps its transaction details (``NtryDtls/TxDtls``, several for a batch/collective
booking). :meth:`CamtMessage.lines` flattens them into one :class:`BookedLine` per transaction with a stable
bank reference (the line's ``AcctSvcrRef``, else the entry's plus the transaction's position).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime

from gateway.banking import iso20022
from gateway.banking.iso20022 import Element, find, findall, local, text
from gateway.errors import StatementError
from settle.money import InvalidAmount, parse_minor

KINDS = {"BkToCstmrStmt": ("camt.053", "Stmt"), "BkToCstmrDbtCdtNtfctn": ("camt.054", "Ntfctn"), "BkToCstmrAcctRpt": ("camt.052", "Rpt")}
#: Largest amount read, in minor units: what the gateway's BIGINT columns hold.
MAX_AMOUNT = 2**63 - 1
#: ISO 4217 minor-unit digits that differ from 2.
_DIGITS = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


#: Values banks put into reference fields to say "no reference".
PLACEHOLDERS = frozenset({"NONREF", "NOTPROVIDED", "NOT PROVIDED", "NONE", "N/A"})


def _reference(value: str | None) -> str | None:
    return None if value is None or value.upper() in PLACEHOLDERS else value


def minor_digits(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit (ISO 4217; 2 unless listed otherwise)."""
    return _DIGITS.get(currency.upper(), 2)


@dataclass(frozen=True)
class TransactionDetail:
    """One ``TxDtls``: a single payment inside an entry."""

    index: int
    amount: int | None
    currency: str | None
    credit_debit: str
    end_to_end_id: str | None = None
    instruction_id: str | None = None
    transaction_id: str | None = None
    payment_info_id: str | None = None
    message_id: str | None = None
    account_servicer_ref: str | None = None
    mandate_id: str | None = None
    uetr: str | None = None
    creditor_references: tuple[str, ...] = ()
    remittance: tuple[str, ...] = ()
    return_reason: str | None = None
    return_info: str | None = None
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    bank_tx_code: str | None = None
    additional_info: str | None = None

    @property
    def creditor_reference(self) -> str | None:
        return self.creditor_references[0] if self.creditor_references else None

    @property
    def remittance_text(self) -> str | None:
        return " ".join(self.remittance) if self.remittance else None


@dataclass(frozen=True)
class Entry:
    """One ``Ntry``: a booking on the account (a collective booking has several details)."""

    index: int
    amount: int
    currency: str
    credit_debit: str  # CRDT | DBIT
    reversal: bool
    status: str | None
    booking_date: date | None
    value_date: date | None
    account_servicer_ref: str | None
    entry_ref: str | None
    bank_tx_code: str | None
    batch_count: int | None
    batch_payment_info_id: str | None
    batch_message_id: str | None
    additional_info: str | None
    details: tuple[TransactionDetail, ...]

    @property
    def signed_amount(self) -> int:
        return self.amount if self.credit_debit == "CRDT" else -self.amount

    @property
    def booked(self) -> bool:
        return self.status in (None, "BOOK")


@dataclass(frozen=True)
class Record:
    """One ``Stmt`` (camt.053), ``Ntfctn`` (camt.054) or ``Rpt`` (camt.052)."""

    id: str | None
    account_iban: str | None
    account_id: str | None
    currency: str | None
    created_at: datetime | None
    sequence_number: str | None
    opening_balance: int | None
    closing_balance: int | None
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class BookedLine:
    """A flattened transaction: one detail of an entry (or the entry itself when it has no details)."""

    record: Record
    entry: Entry
    detail: TransactionDetail | None
    bank_reference: str
    amount: int | None
    currency: str | None
    credit_debit: str

    @property
    def end_to_end_id(self) -> str | None:
        return self.detail.end_to_end_id if self.detail else None

    @property
    def creditor_reference(self) -> str | None:
        return self.detail.creditor_reference if self.detail else None

    @property
    def remittance(self) -> str | None:
        parts = [self.detail.remittance_text if self.detail else None, self.entry.additional_info]
        joined = " ".join(p for p in parts if p)
        return joined or None

    @property
    def return_reason(self) -> str | None:
        return self.detail.return_reason if self.detail else None


@dataclass(frozen=True)
class CamtMessage:
    kind: str  # camt.053 | camt.054 | camt.052
    message_name: str | None  # e.g. camt.053.001.08, from the namespace
    message_id: str | None
    created_at: datetime | None
    records: tuple[Record, ...] = field(default=())

    @property
    def entries(self) -> list[Entry]:
        return [entry for record in self.records for entry in record.entries]

    def lines(self, *, booked_only: bool = True) -> Iterator[BookedLine]:
        """Every transaction as a :class:`BookedLine` (only booked entries unless ``booked_only`` is false).

        Bank references are unique within the message: banks do reuse an ``AcctSvcrRef`` for several details
        of one entry or even for several entries; such references get a suffix that tells them apart (the
        end-to-end id, else the entry reference, else the position).
        """
        lines = [
            line
            for record_number, record in enumerate(self.records)
            for entry in record.entries
            if entry.booked or not booked_only
            for line in _entry_lines(self, record_number, record, entry)
        ]
        yield from _disambiguate(lines)


def _disambiguate(lines: list[BookedLine]) -> list[BookedLine]:
    groups: dict[str, list[int]] = {}
    for position, line in enumerate(lines):
        groups.setdefault(line.bank_reference, []).append(position)
    result = list(lines)
    for reference, positions in groups.items():
        if len(positions) == 1:
            continue
        members = [lines[p] for p in positions]
        values: list[str | None] = []
        for suffix in (
            lambda line: line.end_to_end_id,
            lambda line: line.entry.entry_ref,
            lambda line: f"{line.entry.index + 1}.{line.detail.index + 1 if line.detail else 0}",
        ):
            values = [suffix(line) for line in members]
            if None not in values and len(set(values)) == len(values):
                break
        for position, value in zip(positions, values, strict=True):
            result[position] = replace(lines[position], bank_reference=f"{reference}/{value}")
    return result


def _entry_lines(message: CamtMessage, record_number: int, record: Record, entry: Entry) -> Iterator[BookedLine]:
    entry_ref = entry.account_servicer_ref or entry.entry_ref
    base = entry_ref or f"{record.id or message.message_id or 'record' + str(record_number)}#{entry.index + 1}"
    if not entry.details:
        yield BookedLine(record, entry, None, base, entry.amount, entry.currency, entry.credit_debit)
        return
    several = len(entry.details) > 1
    for detail in entry.details:
        if detail.account_servicer_ref and (not several or detail.account_servicer_ref != entry_ref):
            reference = detail.account_servicer_ref
        else:
            reference = base
        amount, currency = detail.amount, detail.currency
        if amount is None and not several:
            amount, currency = entry.amount, entry.currency
        yield BookedLine(record, entry, detail, reference, amount, currency or entry.currency, detail.credit_debit)


# -- parsing -----------------------------------------------------------------------------------------------------------------


def parse_camt(data: bytes) -> CamtMessage:
    """Read a camt.052/053/054 document (any version)."""
    root = iso20022.parse_xml(data, what="bank statement", error=StatementError)
    if local(root) != "Document" or len(root) == 0:
        raise StatementError(f"bank statement: root element is <{local(root)}>, expected an ISO 20022 <Document>")
    body = next((child for child in root if isinstance(child.tag, str)), None)
    if body is None or local(body) not in KINDS:
        found = local(body) if body is not None else "nothing"
        raise StatementError(f"bank statement: <Document> holds <{found}>, not a camt.052/053/054 message")
    kind, record_tag = KINDS[local(body)]
    name = iso20022.message_name(root)
    if name and not name.startswith("camt.05"):
        raise StatementError(f"bank statement: namespace says {name}, not camt.052/053/054")
    header = find(body, "GrpHdr")
    records = tuple(_record(node) for node in iso20022.children(body, record_tag))
    if not records:
        raise StatementError(f"bank statement: the {kind} message has no <{record_tag}> block")
    return CamtMessage(
        kind=kind,
        message_name=name,
        message_id=text(header, "MsgId"),
        created_at=_datetime(text(header, "CreDtTm")),
        records=records,
    )


def _record(node: Element) -> Record:
    account = find(node, "Acct")
    balances = {}
    for balance in findall(node, "Bal"):
        code = text(balance, "Tp/CdOrPrtry/Cd") or text(balance, "Tp/CdOrPrtry/Prtry")
        amount = _amount(find(balance, "Amt"), "balance")
        if code and amount is not None and code not in balances:
            balances[code] = amount[0] if text(balance, "CdtDbtInd") != "DBIT" else -amount[0]
    entries = tuple(_entry(index, entry) for index, entry in enumerate(findall(node, "Ntry")))
    return Record(
        id=text(node, "Id"),
        account_iban=_compact(text(account, "Id/IBAN")),
        account_id=text(account, "Id/Othr/Id"),
        currency=text(account, "Ccy"),
        created_at=_datetime(text(node, "CreDtTm")),
        sequence_number=text(node, "ElctrncSeqNb") or text(node, "LglSeqNb"),
        opening_balance=balances.get("OPBD", balances.get("PRCD")),
        closing_balance=balances.get("CLBD"),
        entries=entries,
    )


def _entry(index: int, node: Element) -> Entry:
    amount = _amount(find(node, "Amt"), f"entry {index + 1}")
    if amount is None:
        raise StatementError(f"bank statement: entry {index + 1} has no amount")
    credit_debit = _credit_debit(text(node, "CdtDbtInd"), f"entry {index + 1}")
    details = []
    for number, detail in enumerate(findall(node, "NtryDtls/TxDtls")):
        details.append(_detail(number, detail, credit_debit, f"entry {index + 1} detail {number + 1}"))
    batch = find(node, "NtryDtls/Btch")
    count = text(batch, "NbOfTxs")
    return Entry(
        index=index,
        amount=amount[0],
        currency=amount[1],
        credit_debit=credit_debit,
        reversal=(text(node, "RvslInd") or "").lower() == "true",
        status=text(node, "Sts/Cd") or text(node, "Sts"),
        booking_date=_date(find(node, "BookgDt")),
        value_date=_date(find(node, "ValDt")),
        account_servicer_ref=_reference(text(node, "AcctSvcrRef")),
        entry_ref=_reference(text(node, "NtryRef")),
        bank_tx_code=_bank_tx_code(find(node, "BkTxCd")),
        batch_count=int(count) if count and count.isdigit() else None,
        batch_payment_info_id=text(batch, "PmtInfId"),
        batch_message_id=text(batch, "MsgId"),
        additional_info=text(node, "AddtlNtryInf"),
        details=tuple(details),
    )


def _detail(index: int, node: Element, entry_credit_debit: str, where: str) -> TransactionDetail:
    amount = (
        _amount(find(node, "Amt"), where)
        or _amount(find(node, "AmtDtls/TxAmt/Amt"), where)
        or _amount(find(node, "AmtDtls/InstdAmt/Amt"), where)
    )
    credit_debit = text(node, "CdtDbtInd")
    credit_debit = _credit_debit(credit_debit, where) if credit_debit else entry_credit_debit
    refs = find(node, "Refs")
    parties = find(node, "RltdPties")
    side = "Dbtr" if credit_debit == "CRDT" else "Cdtr"
    counterparty = text(parties, f"{side}/Nm") or text(parties, f"{side}/Pty/Nm")
    counterparty_iban = _compact(text(parties, f"{side}Acct/Id/IBAN"))
    references = tuple(ref for ref in (text(info, "Ref") for info in findall(node, "RmtInf/Strd/CdtrRefInf")) if ref is not None)
    remittance = tuple(value for value in (text(u) for u in findall(node, "RmtInf/Ustrd")) if value)
    return TransactionDetail(
        index=index,
        amount=amount[0] if amount else None,
        currency=amount[1] if amount else None,
        credit_debit=credit_debit,
        end_to_end_id=_reference(text(refs, "EndToEndId")),
        instruction_id=_reference(text(refs, "InstrId")),
        transaction_id=_reference(text(refs, "TxId")),
        payment_info_id=text(refs, "PmtInfId"),
        message_id=text(refs, "MsgId"),
        account_servicer_ref=_reference(text(refs, "AcctSvcrRef")),
        mandate_id=_reference(text(refs, "MndtId")),
        uetr=text(refs, "UETR"),
        creditor_references=references,
        remittance=remittance,
        return_reason=text(node, "RtrInf/Rsn/Cd") or text(node, "RtrInf/Rsn/Prtry"),
        return_info=" ".join(v for v in (text(a) for a in findall(node, "RtrInf/AddtlInf")) if v) or None,
        counterparty_name=counterparty,
        counterparty_iban=counterparty_iban,
        bank_tx_code=_bank_tx_code(find(node, "BkTxCd")),
        additional_info=text(node, "AddtlTxInf"),
    )


# -- value readers -----------------------------------------------------------------------------------------------------------


def _amount(node: Element | None, where: str) -> tuple[int, str] | None:
    if node is None or node.text is None:
        return None
    currency = (node.get("Ccy") or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise StatementError(f"bank statement: {where} amount has currency {currency!r}, not an ISO 4217 code")
    digits = minor_digits(currency)
    try:
        return parse_minor(node.text, digits, field=f"bank statement: {where} amount", maximum=MAX_AMOUNT), currency
    except InvalidAmount as exc:
        why = f" ({currency} has {digits} decimal places)" if exc.code == "decimals" else ""
        raise StatementError(f"{exc}{why}") from None


def _credit_debit(value: str | None, where: str) -> str:
    if value not in ("CRDT", "DBIT"):
        raise StatementError(f"bank statement: {where} credit/debit indicator is {value!r}, expected CRDT or DBIT")
    return value


def _date(node: Element | None) -> date | None:
    value = text(node, "Dt") or text(node, "DtTm")
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise StatementError(f"bank statement: {value!r} is not a date") from None


def _datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _bank_tx_code(node: Element | None) -> str | None:
    if node is None:
        return None
    domain = text(node, "Domn/Cd")
    if domain:
        parts = [domain, text(node, "Domn/Fmly/Cd"), text(node, "Domn/Fmly/SubFmlyCd")]
        return "-".join(p for p in parts if p)
    return text(node, "Prtry/Cd")


def _compact(iban: str | None) -> str | None:
    return "".join(iban.split()).upper() if iban else None
