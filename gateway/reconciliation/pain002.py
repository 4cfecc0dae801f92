"""pain.002 customer payment status reports as rejection :class:`~gateway.reconciliation.model.BankLine` s.

A status report answers a payment file we sent (pain.001 credit transfers, pain.008 direct debits) before any money
moved. Only rejections become lines (``kind="rejection"``): accepted or pending transactions are not bank lines, and
a Verification-of-Payee answer (``RCVC``/``RVMC``/``RVNM``…) gives none.

* a transaction with ``TxSts`` ``RJCT`` → one line with its original end-to-end id, instruction id, mandate, the
  original amount when the report repeats it (``OrgnlTxRef/Amt``) and the first ISO reason code (``StsRsnInf/Rsn/Cd``);
* a payment information block rejected as a whole (``PmtInfSts`` ``RJCT``) without transaction details, or a whole
  group (``GrpSts`` ``RJCT``) without payment blocks → one line for the block, ``end_to_end_id`` ``None`` and
  ``entry_reference`` the original ``PmtInfId`` (resp. ``MsgId``): every item of that payment file is affected.

``direction`` is the direction the original payment would have had on our account: ``debit`` for a pain.001, ``credit``
for a pain.008 (and when the report does not say). A report without the original amount gives ``amount=0`` and
``currency="XXX"`` (ISO 4217 "no currency"): match such lines by their references, never by amount.
"""

from __future__ import annotations

from datetime import date

from gateway.banking import camt, iso20022
from gateway.banking.iso20022 import Element, find, findall, local, text
from gateway.errors import StatementError
from gateway.reconciliation.model import BankLine, Direction

__all__ = ["read_pain002"]

#: Currency of a rejection whose report does not repeat the original amount.
NO_CURRENCY = "XXX"


def read_pain002(root: Element, name: str = "") -> list[BankLine]:
    """The rejections of a parsed pain.002 ``<Document>`` (any version, also the Swiss ``.ch.02`` variant)."""
    label = name or "payment status report"
    body = next((child for child in root if isinstance(child.tag, str)), None)
    if local(root) != "Document" or body is None or local(body) != "CstmrPmtStsRpt":
        raise StatementError(f"{label}: not a pain.002 <Document><CstmrPmtStsRpt>")
    message = iso20022.message_name(root)
    namespace = iso20022.namespace_of(root)
    if namespace and not (message or "").startswith("pain.002."):
        raise StatementError(f"{label}: wrong namespace {namespace!r} for a pain.002 status report")
    header = find(body, "GrpHdr")
    report_id = text(header, "MsgId") or "pain.002"
    created = camt._datetime(text(header, "CreDtTm"))
    report_date = created.date() if created else None
    group = find(body, "OrgnlGrpInfAndSts")
    original_message = text(group, "OrgnlMsgId")
    original_kind = text(group, "OrgnlMsgNmId") or ""
    direction: Direction = "debit" if original_kind.startswith("pain.001") else "credit"
    blocks = findall(body, "OrgnlPmtInfAndSts")
    # pain.002.001.03 puts TxInfAndSts under OrgnlPmtInfAndSts; some banks put it directly under the report.
    loose = list(iso20022.children(body, "TxInfAndSts"))
    lines: list[BankLine] = []

    def line(reference: str, entry: str | None, status_node: Element | None, tx: Element | None) -> BankLine:
        reasons = [r for r in (text(i, "Rsn/Cd") or text(i, "Rsn/Prtry") for i in findall(status_node, "StsRsnInf")) if r]
        info = [a for i in findall(status_node, "StsRsnInf") for a in (text(x) for x in iso20022.children(i, "AddtlInf")) if a]
        reference_node = find(tx, "OrgnlTxRef")
        amount = camt._amount(find(reference_node, "Amt/InstdAmt"), "original amount") if tx is not None else None
        side = "Dbtr" if direction == "credit" else "Cdtr"
        counterparty_iban = camt._compact(text(reference_node, f"{side}Acct/Id/IBAN"))
        collection = text(reference_node, "ReqdColltnDt") or text(reference_node, "ReqdExctnDt/Dt") or text(reference_node, "ReqdExctnDt")
        return BankLine(
            bank_reference=reference,
            account_iban=camt._compact(text(reference_node, "CdtrAcct/Id/IBAN" if direction == "credit" else "DbtrAcct/Id/IBAN")),
            amount=amount[0] if amount else 0,
            currency=amount[1] if amount else NO_CURRENCY,
            direction=direction,
            booking_date=report_date,
            value_date=_date(collection),
            kind="rejection",
            reason_code=reasons[0] if reasons else None,
            end_to_end_id=camt._reference(text(tx, "OrgnlEndToEndId")) if tx is not None else None,
            mandate_reference=text(reference_node, "MndtRltdInf/MndtId"),
            creditor_reference=_compact(text(reference_node, "RmtInf/Strd/CdtrRefInf/Ref")),
            remittance_text=" ".join([*info, *(u for u in (text(x) for x in findall(reference_node, "RmtInf/Ustrd")) if u)]) or None,
            counterparty_name=text(reference_node, f"{side}/Nm") or text(reference_node, f"{side}/Pty/Nm"),
            counterparty_iban=counterparty_iban,
            bank_tx_code=None,
            source=name,
            entry_reference=entry,
        )

    for block in blocks:
        block_id = text(block, "OrgnlPmtInfId")
        transactions = findall(block, "TxInfAndSts")
        for tx in transactions:
            if text(tx, "TxSts") == "RJCT" or (text(tx, "TxSts") is None and text(block, "PmtInfSts") == "RJCT"):
                status_node = tx if findall(tx, "StsRsnInf") else block
                e2e = text(tx, "OrgnlEndToEndId") or text(tx, "OrgnlInstrId") or text(tx, "StsId") or "tx"
                lines.append(line(f"{report_id}/{e2e}", block_id, status_node, tx))
        if not transactions and text(block, "PmtInfSts") == "RJCT":
            lines.append(line(f"{report_id}/{block_id or 'block'}", block_id, block, None))
    for tx in loose:
        if text(tx, "TxSts") == "RJCT":
            e2e = text(tx, "OrgnlEndToEndId") or text(tx, "OrgnlInstrId") or text(tx, "StsId") or "tx"
            lines.append(line(f"{report_id}/{e2e}", text(tx, "OrgnlPmtInfId"), tx, tx))
    if not blocks and not loose and text(group, "GrpSts") == "RJCT":
        lines.append(line(f"{report_id}/{original_message or 'group'}", original_message, group, None))
    return lines


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _compact(value: str | None) -> str | None:
    return "".join(value.split()).upper() if value else None
