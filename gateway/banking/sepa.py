"""SEPA payment files: direct debits (pain.008.001.02 / .08, CORE or B2B, FRST/RCUR) and credit transfers
(pain.001.001.03 / .09), one transaction per settlement, one file per initiating account and date.

sepaxml builds the documents. It only writes unstructured remittance (``<RmtInf><Ustrd>``; checked in its
``debit.py``/``transfer.py``: the ``description`` goes into ``UstrdNode``, there is no creditor reference
field), draws random message and payment-information ids, stamps local time, and silently truncates names when
``clean=True``. So this module:

* validates and transliterates every text itself (names over 140 characters are an error, never truncated)
  and calls sepaxml with ``clean=False``;
* post-processes sepaxml's output with lxml (parsed with the safe parser): deterministic ``MsgId``,
  ``PmtInfId`` and a UTC ``CreDtTm``, and each transaction's ``<Ustrd>`` replaced by
  ``<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry><Issr>ISO</Issr></Tp><Ref>RF…</Ref></CdtrRefInf></Strd>``
  (EPC: structured *or* unstructured, not both);
* validates the final bytes against the vendored ISO 20022 XSD (``gateway/banking/xsd``). A file that fails is an error
  and never leaves this module.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from lxml import etree
from sepaxml import SepaDD, SepaTransfer

from gateway.banking import iso20022
from gateway.banking.references import SEPA_CHARACTERS, is_sepa_text, parse_creditor_reference
from gateway.banking.target2 import Scheme
from gateway.errors import BankFileError, MandateError
from gateway.models import SequenceType
from gateway.parties.masterdata import bic_for, creditor_identifier, iban, mandate_reference
from settle.errors import ValidationError

DIRECT_DEBIT_SCHEMAS = ("pain.008.001.02", "pain.008.001.08")
CREDIT_TRANSFER_SCHEMAS = ("pain.001.001.03", "pain.001.001.09")
MAX_NAME = 140
#: SEPA's largest amount, 999 999 999.99 EUR, in cents.
MAX_AMOUNT = 99_999_999_999
_TRANSLITERATE = {
    "ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss",
    "&": "+", "Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o", "Ł": "L", "ł": "l", "Đ": "D", "đ": "d",
    "Þ": "TH", "þ": "th", "Œ": "OE", "œ": "oe", "–": "-", "—": "-", "‚": ",", "‘": "'", "’": "'",
    "“": "'", "”": "'", "„": "'", '"': "'", "«": "'", "»": "'", "_": "-",
}  # fmt: skip


@dataclass(frozen=True)
class Account:
    """A party's side of a payment: account holder name, IBAN, BIC (optional where the IBAN suffices)."""

    name: str
    iban: str
    bic: str | None = None


@dataclass(frozen=True)
class DirectDebit:
    end_to_end_id: str
    amount: int  # cents
    mandate_reference: str
    mandate_signed_on: date
    sequence: SequenceType
    debtor: Account
    creditor_reference: str  # ISO 11649 RF reference
    currency: str = "EUR"


@dataclass(frozen=True)
class CreditTransfer:
    end_to_end_id: str
    amount: int  # cents
    creditor: Account
    creditor_reference: str
    currency: str = "EUR"


@dataclass(frozen=True)
class BuiltFile:
    """A validated payment file, ready to be stored and handed to the bank."""

    kind: str  # pain.008 | pain.001
    schema: str
    message_id: str
    file_date: date
    content: bytes
    tx_count: int
    control_sum: int
    currency: str
    payment_info_ids: dict[str, str] = field(default_factory=dict)  # end-to-end id → PmtInfId

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def file_name(self) -> str:
        return f"{self.message_id}.{self.schema}.xml"


# -- text rules -------------------------------------------------------------------------------------------------------------


def sepa_text(value: str, field_name: str, limit: int = MAX_NAME) -> str:
    """``value`` in the SEPA character set (German umlauts and accents transliterated), at most ``limit``
    characters; anything longer or empty is a :class:`BankFileError` naming the field."""
    text = " ".join((value or "").split())
    if not text:
        raise BankFileError(f"{field_name}: must not be empty")
    if len(text) > limit:
        raise BankFileError(f"{field_name}: {text[:24]!r}… is {len(text)} characters; SEPA files allow at most {limit}")
    out = []
    for char in text:
        if char in SEPA_CHARACTERS:
            out.append(char)
        elif char in _TRANSLITERATE:
            out.append(_TRANSLITERATE[char])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            out.append(base if base and is_sepa_text(base) else ".")
    result = "".join(out)
    if len(result) > limit:
        raise BankFileError(f"{field_name}: {text[:24]!r}… is {len(result)} characters once transliterated; the limit is {limit}")
    return result


def _iban(value: str, field_name: str) -> str:
    return iban(value, field_name, BankFileError)


def _bic(account: Account, field_name: str, required: bool) -> str | None:
    bic = bic_for(account.iban, account.bic, field_name, BankFileError)
    if required and not bic:
        raise BankFileError(f"{field_name}: no BIC given and none can be derived from the IBAN; this schema needs one")
    return bic


def _amount(amount: int, currency: str, field_name: str) -> None:
    if currency != "EUR":
        raise BankFileError(f"{field_name}: currency {currency!r} cannot be paid by SEPA (EUR only)")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 1 <= amount <= MAX_AMOUNT:
        raise BankFileError(f"{field_name}: amount {amount!r} must be between 1 and {MAX_AMOUNT} cents")


def _end_to_end(value: str, field_name: str) -> str:
    if not value or len(value) > 35 or not is_sepa_text(value) or value.startswith("/") or value.endswith("/") or "//" in value:
        raise BankFileError(f"{field_name}: end-to-end id {value!r} must be 1 to 35 SEPA characters, not starting or ending with /")
    return value


def _rf(value: str, where: str) -> str:
    try:
        return parse_creditor_reference(value)
    except ValidationError as exc:
        raise BankFileError(f"{where}: {exc}") from None


def message_id_for(prefix: str, file_date: date, end_to_end_ids: Sequence[str]) -> str:
    """A deterministic message id (≤ 30 characters): the same transactions on the same date give the same id,
    so rebuilding after a crash reproduces the file instead of making a second one."""
    digest = hashlib.sha256("\n".join(sorted(end_to_end_ids)).encode()).hexdigest()[:12].upper()
    return f"{prefix}{file_date:%Y%m%d}{digest}"


def _debit_payment(debit: DirectDebit, collection_date: date, where: str) -> tuple[dict, str]:
    """sepaxml's payment dict for ``debit`` and its creditor reference, every field checked."""
    e2e = _end_to_end(debit.end_to_end_id, where)
    _amount(debit.amount, debit.currency, where)
    if not debit.mandate_reference:
        raise MandateError(f"{where}: no mandate reference; a direct debit needs a signed SEPA mandate")
    try:
        mandate = mandate_reference(debit.mandate_reference)
    except ValidationError as exc:
        raise BankFileError(f"{where}: {exc}") from None
    if debit.mandate_signed_on > collection_date:
        raise BankFileError(f"{where}: mandate signed on {debit.mandate_signed_on}, after the collection date {collection_date}")
    try:
        sequence = SequenceType(debit.sequence)
    except ValueError:
        raise BankFileError(f"{where}: sequence type {debit.sequence!r} is not FRST or RCUR") from None
    debtor_iban = _iban(debit.debtor.iban, f"{where}: debtor IBAN")
    payment = {
        "name": sepa_text(debit.debtor.name, f"{where}: debtor name"),
        "IBAN": debtor_iban,
        "amount": debit.amount,
        "type": sequence.value,
        "collection_date": collection_date,
        "mandate_id": mandate,
        "mandate_date": debit.mandate_signed_on,
        "description": "-",  # replaced by the structured creditor reference in _finish
        "endtoend_id": e2e,
    }
    debtor_bic = _bic(Account(debit.debtor.name, debtor_iban, debit.debtor.bic), f"{where}: debtor BIC", required=False)
    if debtor_bic:
        payment["BIC"] = debtor_bic
    return payment, _rf(debit.creditor_reference, where)


def _transfer_payment(transfer: CreditTransfer, execution_date: date, where: str) -> tuple[dict, str]:
    """sepaxml's payment dict for ``transfer`` and its creditor reference, every field checked."""
    e2e = _end_to_end(transfer.end_to_end_id, where)
    _amount(transfer.amount, transfer.currency, where)
    creditor_iban = _iban(transfer.creditor.iban, f"{where}: creditor IBAN")
    payment = {
        "name": sepa_text(transfer.creditor.name, f"{where}: creditor name"),
        "IBAN": creditor_iban,
        "amount": transfer.amount,
        "execution_date": execution_date,
        "description": "-",
        "endtoend_id": e2e,
    }
    bic = _bic(Account(transfer.creditor.name, creditor_iban, transfer.creditor.bic), f"{where}: creditor BIC", required=False)
    if bic:
        payment["BIC"] = bic
    return payment, _rf(transfer.creditor_reference, where)


def check_direct_debit(debit: DirectDebit, collection_date: date, where: str = "debit") -> None:
    """Raise :class:`BankFileError` if ``debit`` could not go into a file (checked alone, before grouping)."""
    _debit_payment(debit, collection_date, where)


def check_credit_transfer(transfer: CreditTransfer, execution_date: date, where: str = "transfer") -> None:
    """Raise :class:`BankFileError` if ``transfer`` could not go into a file."""
    _transfer_payment(transfer, execution_date, where)


# -- builders ----------------------------------------------------------------------------------------------------------------


def build_direct_debit_file(
    *,
    creditor: Account,
    creditor_id: str,
    scheme: Scheme | str,
    collection_date: date,
    debits: Sequence[DirectDebit],
    schema: str = "pain.008.001.08",
    created_at: datetime | None = None,
    message_id: str | None = None,
) -> BuiltFile:
    """A pain.008 collecting ``debits`` into ``creditor``'s account on ``collection_date``; FRST and RCUR
    debits go into separate payment-information blocks."""
    if schema not in DIRECT_DEBIT_SCHEMAS:
        raise BankFileError(f"schema: {schema!r} is not one of {', '.join(DIRECT_DEBIT_SCHEMAS)}")
    if not debits:
        raise BankFileError("direct debit file: no debits given")
    try:
        scheme = Scheme(scheme)
    except ValueError:
        raise BankFileError(f"scheme: {scheme!r} is not CORE or B2B") from None
    try:
        ci = creditor_identifier(creditor_id)
    except ValidationError as exc:
        raise BankFileError(f"creditor identifier: {exc}") from None
    creditor_iban = _iban(creditor.iban, "creditor IBAN")
    creditor_bic = _bic(Account(creditor.name, creditor_iban, creditor.bic), "creditor BIC", required=schema == "pain.008.001.02")
    config = {
        "name": sepa_text(creditor.name, "creditor name"),
        "IBAN": creditor_iban,
        "batch": True,
        "creditor_id": ci,
        "currency": "EUR",
        "instrument": scheme.value,
    }
    if creditor_bic:
        config["BIC"] = creditor_bic
    document = SepaDD(config, schema=schema, clean=False)
    references: dict[str, str] = {}
    for index, debit in enumerate(debits):
        where = f"debit {index + 1} ({debit.end_to_end_id})"
        payment, reference = _debit_payment(debit, collection_date, where)
        if payment["endtoend_id"] in references:
            raise BankFileError(f"{where}: end-to-end id {debit.end_to_end_id!r} appears twice in one file")
        references[payment["endtoend_id"]] = reference
        document.add_payment(payment)
    raw = document.export(validate=False)
    message_id = message_id or message_id_for("STLDD", collection_date, list(references))
    return _finish(raw, "pain.008", schema, message_id, collection_date, created_at, references, debits)


def build_credit_transfer_file(
    *,
    debtor: Account,
    execution_date: date,
    transfers: Sequence[CreditTransfer],
    schema: str = "pain.001.001.09",
    created_at: datetime | None = None,
    message_id: str | None = None,
) -> BuiltFile:
    """A pain.001 paying ``transfers`` from ``debtor``'s account on ``execution_date``."""
    if schema not in CREDIT_TRANSFER_SCHEMAS:
        raise BankFileError(f"schema: {schema!r} is not one of {', '.join(CREDIT_TRANSFER_SCHEMAS)}")
    if not transfers:
        raise BankFileError("credit transfer file: no transfers given")
    debtor_iban = _iban(debtor.iban, "debtor IBAN")
    debtor_bic = _bic(Account(debtor.name, debtor_iban, debtor.bic), "debtor BIC", required=False)
    config = {"name": sepa_text(debtor.name, "debtor name"), "IBAN": debtor_iban, "batch": True, "currency": "EUR"}
    if debtor_bic:
        config["BIC"] = debtor_bic
    document = SepaTransfer(config, schema=schema, clean=False)
    references: dict[str, str] = {}
    for index, transfer in enumerate(transfers):
        where = f"transfer {index + 1} ({transfer.end_to_end_id})"
        payment, reference = _transfer_payment(transfer, execution_date, where)
        if payment["endtoend_id"] in references:
            raise BankFileError(f"{where}: end-to-end id {transfer.end_to_end_id!r} appears twice in one file")
        references[payment["endtoend_id"]] = reference
        document.add_payment(payment)
    raw = document.export(validate=False)
    message_id = message_id or message_id_for("STLCT", execution_date, list(references))
    return _finish(raw, "pain.001", schema, message_id, execution_date, created_at, references, transfers)


def _fill(parent: iso20022.Element | None, path: str, value: str) -> None:
    """Set the text of ``path`` under ``parent`` in sepaxml's output, which always has it."""
    node = iso20022.find(parent, path)
    if node is None:
        raise BankFileError(f"generated payment file: no <{path}> to fill in")
    node.text = value


def _finish(
    raw: bytes,
    kind: str,
    schema: str,
    message_id: str,
    file_date: date,
    created_at: datetime | None,
    references: dict[str, str],
    transactions: Sequence[DirectDebit] | Sequence[CreditTransfer],
) -> BuiltFile:
    if len(message_id) > 35 or not is_sepa_text(message_id) or " " in message_id:
        raise BankFileError(f"message id: {message_id!r} must be at most 35 SEPA characters without spaces")
    moment = (created_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    root = iso20022.parse_xml(raw, what="generated payment file", error=BankFileError)
    namespace = iso20022.namespace_of(root)

    def q(name: str) -> str:
        return f"{{{namespace}}}{name}"

    header = iso20022.find(root[0], "GrpHdr")
    _fill(header, "MsgId", message_id)
    _fill(header, "CreDtTm", moment.isoformat())
    payment_info_ids: dict[str, str] = {}
    tx_tag = "DrctDbtTxInf" if kind == "pain.008" else "CdtTrfTxInf"
    for number, block in enumerate(iso20022.children(root[0], "PmtInf"), start=1):
        block_id = f"{message_id}-{number}"
        _fill(block, "PmtInfId", block_id)
        for tx in iso20022.children(block, tx_tag):
            e2e = iso20022.text(tx, "PmtId/EndToEndId") or ""
            payment_info_ids[e2e] = block_id
            remittance = iso20022.find(tx, "RmtInf")
            if remittance is None:
                raise BankFileError(f"generated payment file: transaction {e2e} has no remittance block")
            for child in list(remittance):
                remittance.remove(child)
            structured = etree.SubElement(remittance, q("Strd"))
            reference_info = etree.SubElement(structured, q("CdtrRefInf"))
            reference_type = etree.SubElement(reference_info, q("Tp"))
            code = etree.SubElement(etree.SubElement(reference_type, q("CdOrPrtry")), q("Cd"))
            code.text = "SCOR"
            etree.SubElement(reference_type, q("Issr")).text = "ISO"
            etree.SubElement(reference_info, q("Ref")).text = references[e2e]
    if set(payment_info_ids) != set(references):
        raise BankFileError("generated payment file: transactions in the document differ from those given")
    etree.indent(root, space="  ")
    content = b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root, encoding="UTF-8") + b"\n"
    iso20022.validate(content, schema, what=f"payment file {message_id}", error=BankFileError)
    return BuiltFile(
        kind=kind,
        schema=schema,
        message_id=message_id,
        file_date=file_date,
        content=content,
        tx_count=len(transactions),
        control_sum=sum(t.amount for t in transactions),
        currency="EUR",
        payment_info_ids=payment_info_ids,
    )
