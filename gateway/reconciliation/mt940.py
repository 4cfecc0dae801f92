"""MT940 / MT942 statements as :class:`~gateway.reconciliation.model.BankLine` s.

The SWIFT tags and the German structured ``:86:`` (``?00`` posting text, ``?20``–``?29`` purpose with the SEPA
keywords ``EREF+``/``MREF+``/``CRED+``/``SVWZ+``, ``?30``/``?31`` bank and account of the counterparty, ``?32``/``?33``
its name, ``?34`` the return-reason supplement) are read by the ``mt-940`` package (PyPI ``mt-940``, BSD-3-Clause)
with all its opt-in fixes switched on. This module adds what the package leaves to its caller:

* decoding (UTF-8 when the bytes are valid UTF-8, else ISO-8859-1) and CR/CRLF line ends;
* a structural check per statement (``:20:`` block) before anything is returned: a booking tag after the bookings
  (``:25:`` where ``:86:`` belongs), an opening balance without a closing balance (``:62F:``/``:62M:``: the file was
  cut off) or a ``:61:`` the package cannot read is a :class:`~gateway.errors.StatementError` naming the file, the
  statement and the problem; MT942 interim reports (``:34F:``/``:13D:``, no balances) are accepted;
* ``:64:``/``:65:`` (available balances) are not needed for reconciliation and are skipped (some banks write
  ``null`` into them);
* the line kind from the SWIFT transaction type (``NRTI`` returned item, ``NCHG`` charges), the German GVC
  (``109`` SEPA direct debit returned, ``159`` credit transfer returned, ``805``/``808`` fees), the posting text
  (``RETOURE``, ``RUECKLASTSCHRIFT``, ``ENTGELT`` …) and reversals (``RC``/``RD`` marks);
* charges from the ``:61:`` supplementary details ``/CHGS/EUR0,50/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import mt940 as mt940lib
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

from gateway.banking.camt import PLACEHOLDERS, minor_digits
from gateway.errors import StatementError
from gateway.reconciliation.model import BankLine, Direction, LineKind

__all__ = ["gvc_kind", "looks_like_mt940", "read_mt940"]

#: German business transaction codes (GVC, ``:86:`` first three digits) of returned payments and of bank fees.
RETURN_GVC = frozenset({"109", "159"})
FEE_GVC = frozenset({"805", "808"})
#: SWIFT transaction type identification codes (``:61:`` subfield 6, without the N/S/F prefix).
RETURN_TYPES = frozenset({"RTI"})
FEE_TYPES = frozenset({"CHG", "COM"})
OTHER_TYPES = frozenset({"INT"})
_RETURN_TEXT = re.compile(r"RETOURE|R(?:UE|Ü)CKLASTSCHR|R(?:UE|Ü)CKBELAST|R(?:UE|Ü)CK(?:UE|Ü)BERW|RUECKGABE|RÜCKGABE", re.IGNORECASE)
_FEE_TEXT = re.compile(r"ENTGELT|GEB(?:UE|Ü)HR|ABSCHLUSS|PROVISION", re.IGNORECASE)
#: ISO external return reason codes a German bank may write into the purpose of a return.
_REASON = re.compile(
    r"\b(AC0[1-9]|AC1[0-6]|AG0[1-3]|AM0[1-9]|AM[12]\d|BE0[1-8]|CUST|DUPL|FF0[1-9]|FOCR|MD0[1-8]|MS0[23]|NARR|RC0[1-9]|RR0[1-4]|SL0[1-2]|TECH|TM01)\b"
)
_TAG = re.compile(r"^:(\d{2}[A-Z]?|NS):", re.MULTILINE)
_IBAN_SHAPE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$")
_CHARGES = re.compile(r"/CHGS/([A-Z]{3})(\d+(?:,\d*)?)")
_AFTER_BOOKINGS = frozenset({"61", "86", "62F", "62M", "64", "65", "90D", "90C", "NS"})


def looks_like_mt940(head: bytes) -> bool:
    """Whether the start of a file looks like SWIFT MT940/MT942 (tags ``:20:``, ``:25:``, ``:60F:``, ``:61:`` …)."""
    return bool(re.search(rb"(^|[\r\n{])(:20:|:25:|:28C?:|:60[FM]:|:61:)", head[:4096]))


def gvc_kind(code: str | None) -> LineKind | None:
    """``"return"``/``"fee"`` for a German GVC, alone (``109``) or in a DK proprietary code (``NDDT+109+…``)."""
    if not code:
        return None
    match = re.search(r"(?:^|\+)(\d{3})(?:\+|$)", code)
    if not match:
        return None
    gvc = match.group(1)
    return "return" if gvc in RETURN_GVC else "fee" if gvc in FEE_GVC else None


@dataclass(frozen=True)
class _Block:
    number: int
    reference: str | None
    tags: list[tuple[str, str]]
    text: str


def read_mt940(data: bytes, name: str = "") -> list[BankLine]:
    """Every ``:61:`` booking of an MT940/MT942 file, statement by statement, in file order."""
    label = name or "MT940 statement"
    if not data.strip():
        raise StatementError(f"{label}: the file is empty")
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError:
        content = data.decode("iso-8859-1")
    content = content.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    blocks = _blocks(content)
    if not blocks:
        raise StatementError(f"{label}: no MT940 tags (:20:, :25:, :60F:, :61:) found")
    lines: list[BankLine] = []
    for block in blocks:
        _check(block, label)
        lines.extend(_block_lines(block, label, name))
    return lines


def _blocks(content: str) -> list[_Block]:
    """The file cut into statements at each ``:20:``, without ``:64:``/``:65:`` and the ``-`` trailer lines."""
    positions = [m.start() for m in _TAG.finditer(content)]
    tags: list[tuple[str, str]] = []
    for start, end in zip(positions, [*positions[1:], len(content)], strict=True):
        match = _TAG.match(content, start)
        assert match is not None
        body = content[match.end() : end]
        body = "\n".join(line for line in body.split("\n") if line.strip() not in ("-", "-}", "}")).strip("\n")
        tags.append((match.group(1), body))
    blocks: list[list[tuple[str, str]]] = []
    for tag, body in tags:
        if tag == "20" or not blocks:
            blocks.append([])
        blocks[-1].append((tag, body))
    result = []
    for number, block in enumerate(blocks, start=1):
        kept = [(tag, body) for tag, body in block if not tag.startswith(("64", "65"))]
        reference = next((body.strip() for tag, body in block if tag == "20"), None)
        text = "".join(f":{tag}:{body}\n" for tag, body in kept)
        result.append(_Block(number, reference, kept, text))
    return result


def _where(block: _Block) -> str:
    return f"statement {block.number}" + (f" (:20: {block.reference})" if block.reference else "")


def _check(block: _Block, label: str) -> None:
    names = [tag for tag, _ in block.tags]
    if "61" in names:
        first = names.index("61")
        stray = next((tag for tag in names[first:] if tag not in _AFTER_BOOKINGS), None)
        if stray is not None:
            raise StatementError(
                f"{label}: {_where(block)} has tag :{stray}: after its bookings (:61:/:86:): the file is damaged or two "
                "statements were run together"
            )
    opening = any(tag.startswith("60") for tag in names)
    closing = any(tag in ("62F", "62M") for tag in names)
    # A fragment of bare balances (no :20:, no booking) is no statement to cut short.
    if opening and not closing and ("20" in names or "61" in names):
        raise StatementError(
            f"{label}: {_where(block)} has an opening balance (:60F:) but no closing balance (:62F:/:62M:): the file "
            "looks truncated; ask the bank for the complete statement"
        )
    for tag, body in block.tags:
        if tag == "61" and not re.match(r"\s*\d{6}", body):
            raise StatementError(f"{label}: {_where(block)} has a :61: booking without a value date: {body[:40]!r}")


def _block_lines(block: _Block, label: str, name: str) -> list[BankLine]:
    bookings = sum(1 for tag, _ in block.tags if tag == "61")
    if not bookings:
        return []
    statement = mt940lib.models.Transactions(options=mt940lib.Options.all())
    try:
        statement.parse(block.text)
    except (RuntimeError, ValueError, ArithmeticError, KeyError, IndexError, TypeError, AttributeError) as exc:
        first = str(exc).split("\n", 1)[0]
        raise StatementError(f"{label}: {_where(block)} cannot be read as MT940: {first[:200]}") from None
    if len(statement.transactions) != bookings:
        raise StatementError(f"{label}: {_where(block)} has {bookings} :61: bookings but only {len(statement.transactions)} could be read")
    account = _account(statement.data.get("account_identification"))
    lines = []
    for index, transaction in enumerate(statement.transactions, start=1):
        lines.append(_line(transaction.data, account, block, index, label, name))
    return lines


def _line(data: dict[str, object], account: str | None, block: _Block, index: int, label: str, name: str) -> BankLine:
    where = f"{_where(block)} booking {index}"
    amount = data.get("amount")
    if not isinstance(amount, mt940lib.models.Amount):
        raise StatementError(f"{label}: {where} has no amount")
    currency = str(data.get("currency") or amount.currency or "").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise StatementError(f"{label}: {where} has currency {currency!r}, not an ISO 4217 code (is the :60F: balance missing?)")
    minor = _minor(abs(amount.amount), currency, f"{label}: {where}")
    mark = str(data.get("status") or "").upper()
    direction: Direction = "debit" if mark in ("D", "RC") else "credit"
    type_id, customer = _type_and_reference(data)
    gvc = _clean(data.get("transaction_code"))
    supplement = _clean(data.get("return_debit_notes"))
    posting = _clean(data.get("posting_text")) or ""
    purpose = _join(data.get("purpose"), data.get("additional_purpose"))
    if not gvc and not purpose:
        purpose = _join(str(data.get("transaction_details") or "").replace("\n", " "))
    kind = _kind(mark, type_id, gvc, posting)
    reason = None
    if kind == "return":
        found = _REASON.search(" ".join(filter(None, [purpose, posting, str(data.get("transaction_details") or "")])))
        reason = found.group(1) if found else None
    bank_reference = _clean(data.get("bank_reference"))
    if bank_reference is None or bank_reference.upper() in PLACEHOLDERS:
        bank_reference = f"{block.reference or 'MT940'}#{block.number}.{index}"
    counterparty_iban = (_clean(data.get("applicant_iban")) or "").replace(" ", "").upper()
    value_date = _date(data.get("date"))
    booking_date = _date(data.get("entry_date")) or _date(data.get("guessed_entry_date")) or value_date
    return BankLine(
        bank_reference=bank_reference,
        account_iban=account,
        amount=minor,
        currency=currency,
        direction=direction,
        booking_date=booking_date,
        value_date=value_date,
        kind=kind,
        reason_code=reason,
        end_to_end_id=_reference(data.get("end_to_end_reference")),
        mandate_reference=_reference(data.get("additional_position_reference")),
        creditor_reference=None,
        remittance_text=purpose or posting or None,
        structured=(),
        counterparty_name=_join(data.get("applicant_name")),
        counterparty_iban=counterparty_iban if _IBAN_SHAPE.match(counterparty_iban) else None,
        bank_tx_code="+".join(p for p in ("N" + type_id if type_id else None, gvc, supplement) if p) or None,
        charges=_charges(str(data.get("extra_details") or ""), currency, f"{label}: {where}"),
        source=name,
        entry_reference=customer,
    )


def _kind(mark: str, type_id: str | None, gvc: str | None, posting: str) -> LineKind:
    if mark in ("RC", "RD") or type_id in RETURN_TYPES or gvc in RETURN_GVC or _RETURN_TEXT.search(posting):
        return "return"
    if type_id in FEE_TYPES or gvc in FEE_GVC or _FEE_TEXT.search(posting):
        return "fee"
    if type_id in OTHER_TYPES:
        return "other"
    return "payment"


def _type_and_reference(data: dict[str, object]) -> tuple[str | None, str | None]:
    """The transaction type (``TRF``, ``RTI``…) and the customer reference of ``:61:``; mends a ``:61:`` with a
    space before the type (``D12,35 NRTIKREF+``), which the package reads as part of the reference."""
    type_id = _clean(data.get("id"))
    customer = str(data.get("customer_reference") or "").split("\n", 1)[0].strip()
    if not type_id:
        match = re.match(r"([NSF][A-Z0-9]{3})(.*)", customer)
        if match:
            type_id, customer = match.group(1), match.group(2)
    if type_id and len(type_id) == 4 and type_id[0] in "NSF":
        type_id = type_id[1:]
    reference: str | None = customer.strip().removeprefix("KREF+").strip()
    if not reference or reference.upper() in PLACEHOLDERS or reference.endswith("+"):
        reference = None
    return (type_id.upper() if type_id else None), reference


def _account(value: object) -> str | None:
    """``:25:`` as an IBAN where it is one (also with a trailing currency) or a German ``BLZ/account``; else the
    identification as given."""
    raw = _clean(value)
    if raw is None:
        return None
    compact = raw.replace(" ", "").upper()
    for candidate in (compact, compact[:-3]):
        if _IBAN_SHAPE.match(candidate):
            try:
                return str(IBAN(candidate).compact)
            except SchwiftyException:
                pass
    match = re.fullmatch(r"(\d{8})/(\d{1,10})", compact)
    if match:
        try:
            return str(IBAN.generate("DE", bank_code=match.group(1), account_code=match.group(2)).compact)
        except SchwiftyException:
            pass
    return compact


def _minor(value: Decimal, currency: str, where: str) -> int:
    digits = minor_digits(currency)
    scaled = value.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise StatementError(f"{where}: amount {value} has more decimals than {currency}'s {digits}")
    return int(scaled)


def _charges(extra: str, currency: str, where: str) -> int:
    match = _CHARGES.search(extra.replace("\n", ""))
    if not match or match.group(1) != currency:
        return 0
    return _minor(Decimal(match.group(2).replace(",", ".").rstrip(".") or "0"), currency, where)


def _date(value: object) -> date | None:
    if isinstance(value, date):
        return date(value.year, value.month, value.day)
    return None


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _reference(value: object) -> str | None:
    text = _clean(value)
    return None if text is None or text.upper() in PLACEHOLDERS else text


def _join(*values: object) -> str | None:
    text = " ".join(str(v) for v in values if v)
    return " ".join(text.split()) or None
