"""Bank files the simulator does not write, made by hand for the gateway's end-to-end tests: a camt.053 with
transfers a payer made outside Settle (no end-to-end id, no reference: collective payments) and a pain.002
status report rejecting debits before settlement. The statement is validated against its XSD (no pain.002 schema is
vendored: the report follows tests/reconciliation/fixtures/settle_pain002.xml)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from lxml import etree

from gateway.banking import iso20022
from settle.money import format_minor

CAMT = "camt.053.001.08"
PAIN002 = "pain.002.001.10"


@dataclass(frozen=True)
class Transfer:
    """A credit on the payee's account from a payer, without any reference of ours."""

    bank_reference: str
    amount: int
    payer_name: str
    payer_iban: str
    text: str = "Sammelzahlung"


def _builder(message: str):  # type: ignore[no-untyped-def]
    ns = f"urn:iso:std:iso:20022:tech:xsd:{message}"

    def el(parent: etree._Element | None, tag: str, value: str | None = None, **attrib: str) -> etree._Element:
        node = (
            etree.Element(f"{{{ns}}}{tag}", attrib, nsmap={None: ns})
            if parent is None
            else etree.SubElement(parent, f"{{{ns}}}{tag}", attrib)
        )
        if value is not None:
            node.text = value
        return node

    return el


def _finish(root: etree._Element, message: str) -> bytes:
    etree.indent(root, space="  ")
    content = b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(root, encoding="UTF-8") + b"\n"
    if message in iso20022.available_schemas():
        assert iso20022.validation_errors(content, message) == []
    return content


def transfers_statement(account: str, day: date, transfers: list[Transfer], *, message_id: str, sequence: int = 1) -> bytes:
    """One camt.053 statement of ``account`` on ``day`` with one booked credit entry per transfer (``PMNT/RCDT/ESCT``,
    end-to-end id ``NOTPROVIDED``, the payer as debtor, free text only)."""
    el = _builder(CAMT)
    created = datetime.combine(day, time(18, 0), tzinfo=UTC).isoformat()
    root = el(None, "Document")
    body = el(root, "BkToCstmrStmt")
    header = el(body, "GrpHdr")
    el(header, "MsgId", message_id)
    el(header, "CreDtTm", created)
    statement = el(body, "Stmt")
    el(statement, "Id", f"{message_id}-1")
    el(statement, "ElctrncSeqNb", str(sequence))
    el(statement, "CreDtTm", created)
    acct = el(statement, "Acct")
    el(el(acct, "Id"), "IBAN", account)
    el(acct, "Ccy", "EUR")
    total = sum(t.amount for t in transfers)
    for code, value in (("OPBD", 0), ("CLBD", total)):
        balance = el(statement, "Bal")
        el(el(el(balance, "Tp"), "CdOrPrtry"), "Cd", code)
        el(balance, "Amt", format_minor(value, 2), Ccy="EUR")
        el(balance, "CdtDbtInd", "CRDT")
        el(el(balance, "Dt"), "Dt", day.isoformat())
    for number, transfer in enumerate(transfers, start=1):
        entry = el(statement, "Ntry")
        el(entry, "NtryRef", str(number))
        el(entry, "Amt", format_minor(transfer.amount, 2), Ccy="EUR")
        el(entry, "CdtDbtInd", "CRDT")
        el(el(entry, "Sts"), "Cd", "BOOK")
        el(el(entry, "BookgDt"), "Dt", day.isoformat())
        el(el(entry, "ValDt"), "Dt", day.isoformat())
        el(entry, "AcctSvcrRef", transfer.bank_reference)
        domain = el(el(entry, "BkTxCd"), "Domn")
        el(domain, "Cd", "PMNT")
        family = el(domain, "Fmly")
        el(family, "Cd", "RCDT")
        el(family, "SubFmlyCd", "ESCT")
        detail = el(el(entry, "NtryDtls"), "TxDtls")
        refs = el(detail, "Refs")
        el(refs, "AcctSvcrRef", transfer.bank_reference)
        el(refs, "EndToEndId", "NOTPROVIDED")
        el(detail, "Amt", format_minor(transfer.amount, 2), Ccy="EUR")
        el(detail, "CdtDbtInd", "CRDT")
        parties = el(detail, "RltdPties")
        el(el(el(parties, "Dbtr"), "Pty"), "Nm", transfer.payer_name)
        el(el(el(parties, "DbtrAcct"), "Id"), "IBAN", transfer.payer_iban)
        el(el(detail, "RmtInf"), "Ustrd", transfer.text)
    return _finish(root, CAMT)


@dataclass(frozen=True)
class Rejection:
    """One rejected direct debit of a pain.008 we sent: its end-to-end id, amount and accounts, the reason code."""

    end_to_end_id: str
    amount: int
    reason: str
    mandate: str
    debtor_name: str
    debtor_iban: str
    creditor_iban: str
    collection_date: date
    payment_info_id: str = "PMT-1"


def rejection_report(rejections: list[Rejection], *, message_id: str, original_message_id: str, created: datetime) -> bytes:
    """A pain.002 status report on a pain.008: each debit of ``rejections`` rejected (``RJCT``) with its reason."""
    el = _builder(PAIN002)
    root = el(None, "Document")
    body = el(root, "CstmrPmtStsRpt")
    header = el(body, "GrpHdr")
    el(header, "MsgId", message_id)
    el(header, "CreDtTm", created.isoformat())
    group = el(body, "OrgnlGrpInfAndSts")
    el(group, "OrgnlMsgId", original_message_id)
    el(group, "OrgnlMsgNmId", "pain.008.001.08")
    el(group, "GrpSts", "PART")
    for rejection in rejections:
        block = el(body, "OrgnlPmtInfAndSts")
        el(block, "OrgnlPmtInfId", rejection.payment_info_id)
        tx = el(block, "TxInfAndSts")
        el(tx, "OrgnlEndToEndId", rejection.end_to_end_id)
        el(tx, "TxSts", "RJCT")
        el(el(el(tx, "StsRsnInf"), "Rsn"), "Cd", rejection.reason)
        ref = el(tx, "OrgnlTxRef")
        el(el(ref, "Amt"), "InstdAmt", format_minor(rejection.amount, 2), Ccy="EUR")
        el(ref, "ReqdColltnDt", rejection.collection_date.isoformat())
        el(el(ref, "MndtRltdInf"), "MndtId", rejection.mandate)
        el(el(el(ref, "Dbtr"), "Pty"), "Nm", rejection.debtor_name)
        el(el(el(ref, "DbtrAcct"), "Id"), "IBAN", rejection.debtor_iban)
        el(el(el(ref, "CdtrAcct"), "Id"), "IBAN", rejection.creditor_iban)
    return _finish(root, PAIN002)
