"""One reader for every bank file reconciliation consumes: camt.052 / camt.053 / camt.054 (versions .02 to .08),
MT940 / MT942 and pain.002 status reports, all turned into :class:`~gateway.reconciliation.model.BankLine` s.

:func:`read_statement` detects the format from the content (never from the file name). XML goes through the
project's safe parser (:func:`gateway.banking.iso20022.parse_xml`: no DTD, no entities, no network, size limit); the
camt entries and transaction details are read by :mod:`gateway.banking.camt`, which this module extends with what
reconciliation needs besides (charges, referred documents with their amounts, the counterparty of a return, the
line kind). MT940 is read by :mod:`.mt940`, pain.002 by :mod:`.pain002`.

Rules shared by every format:

* one line per booked transaction: a collective booking (``Ntry`` with several ``TxDtls``) gives one line per
  ``TxDtls``; only when the bank gives no amount per detail does the entry stay one line (its references merged);
* ``amount`` is what was booked on the account (never negative; ``direction`` gives the sign) and ``charges`` the
  bank fees inside it (``Chrgs``; MT940 ``/CHGS/``);
* ``bank_reference`` is the transaction's ``Refs/AcctSvcrRef``, else its entry's ``AcctSvcrRef`` (MT940: the bank
  reference of ``:61:``; pain.002: the report's message id and the original end-to-end id) and is unique among the
  lines of one call: a reference the bank repeats gets ``/`` and the end-to-end id, else ``/`` and the position;
* bad input is a :class:`~gateway.errors.StatementError` whose message starts with the file name and says what is
  wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from gateway.banking import camt, iso20022
from gateway.banking.iso20022 import Element, find, findall, local, text
from gateway.errors import StatementError
from gateway.reconciliation import mt940, pain002
from gateway.reconciliation.model import BankLine, Direction, LineKind, RemittanceRef

__all__ = ["StatementError", "detect_format", "read_statement"]

#: Bank transaction sub-families (``BkTxCd/Domn/Fmly/SubFmlyCd``) that reverse an earlier payment.
RETURN_SUBFAMILIES = frozenset({"RRTN", "UPDD", "PRDD", "RPCR", "ARET", "AREV"})
#: Sub-families and families that are bank charges.
FEE_CODES = frozenset({"CHRG", "COMM", "FEES"})
#: Domains that are not payments between parties (account management, cash pooling, securities, FX …).
OTHER_DOMAINS = frozenset({"ACMT", "CAMT", "LDAS", "SECU", "FORX", "DERV", "TRAD", "PMET", "CMDT", "XTND"})

#: The newest camt.05x message version ISO 20022 has published (2023: camt.053.001.13); .02 to .08 are tested against
#: real files, later ones read alike (elements are found by local name).
LATEST_CAMT_VERSION = 13

_XML_KINDS = {**{tag: kind for tag, (kind, _) in camt.KINDS.items()}, "CstmrPmtStsRpt": "pain.002"}


def read_statement(data: bytes, name: str = "") -> list[BankLine]:
    """Every booked transaction of ``data`` (camt.052/053/054, MT940/MT942 or pain.002) as :class:`BankLine` s.

    ``name`` (the file name) goes into each line's ``source`` and into error messages. pain.002 gives one
    ``kind="rejection"`` line per rejected transaction (accepted ones are not bank lines). Raises
    :class:`StatementError` for an empty, hostile, truncated or foreign file.
    """
    label = name or "bank statement"
    kind = detect_format(data, name)
    if kind == "mt940":
        lines = mt940.read_mt940(bytes(data), name)
    else:
        root = iso20022.parse_xml(bytes(data), what=label, error=StatementError)
        if kind == "pain.002":
            lines = pain002.read_pain002(root, name)
        else:
            lines = _read_camt(root, name)
    return unique_references(lines)


def detect_format(data: bytes, name: str = "") -> str:
    """``"camt.052"``, ``"camt.053"``, ``"camt.054"``, ``"pain.002"`` or ``"mt940"`` from the content of ``data``.

    XML is recognised by its first element after the root ``<Document>`` (read without parsing the whole file);
    the safe parser runs afterwards. Raises :class:`StatementError` for an empty or unrecognised file.
    """
    label = name or "bank statement"
    if not isinstance(data, bytes | bytearray):
        raise StatementError(f"{label}: expected the file's bytes, got {type(data).__name__}")
    head = bytes(data[:8192]).lstrip(b"\xef\xbb\xbf\xff\xfe \t\r\n\x00")
    if not head:
        raise StatementError(f"{label}: the file is empty")
    if head.startswith(b"<"):
        tags = [t.rsplit(b":", 1)[-1].decode("ascii", "replace") for t in re.findall(rb"<([A-Za-z_][\w.:-]*)", head)]
        tags = [t for t in tags if t != "Document"]
        for tag in tags[:1]:
            if tag in _XML_KINDS:
                return _XML_KINDS[tag]
        if b"<!DOCTYPE" in head.upper() or b"<!ENTITY" in head.upper():
            return "camt.053"  # the safe parser refuses it with the precise reason
        found = f"<{tags[0]}>" if tags else "no element"
        # Broken or hostile XML gets the safe parser's precise reason rather than "not a bank statement".
        iso20022.parse_xml(bytes(data), what=label, error=StatementError)
        raise StatementError(
            f"{label}: XML with {found} is not a bank statement: expected a camt.052/053/054 <Document> "
            "(BkToCstmrAcctRpt, BkToCstmrStmt, BkToCstmrDbtCdtNtfctn) or a pain.002 (CstmrPmtStsRpt)"
        )
    if mt940.looks_like_mt940(head):
        return "mt940"
    raise StatementError(f"{label}: not a bank statement: neither ISO 20022 XML (camt.05x, pain.002) nor MT940 (:20:/:61: tags)")


def unique_references(lines: Sequence[BankLine]) -> list[BankLine]:
    """``lines`` with every ``bank_reference`` unique: a repeated reference gets ``/<end-to-end id>`` when that
    tells the repeats apart, else ``/<n>`` (1-based position among the repeats, in file order)."""
    groups: dict[str, list[int]] = {}
    for position, line in enumerate(lines):
        groups.setdefault(line.bank_reference, []).append(position)
    result = list(lines)
    taken = set(groups)
    for reference, positions in groups.items():
        if len(positions) == 1:
            continue
        e2e = [lines[p].end_to_end_id for p in positions]
        use_e2e = None not in e2e and len(set(e2e)) == len(e2e)
        for number, position in enumerate(positions, start=1):
            suffix = e2e[number - 1] if use_e2e else str(number)
            candidate = f"{reference}/{suffix}"
            while candidate in taken:
                candidate += "'"
            taken.add(candidate)
            result[position] = replace(lines[position], bank_reference=candidate)
    return result


# -- camt.052 / 053 / 054 ----------------------------------------------------------------------------------------------------


def _read_camt(root: Element, name: str) -> list[BankLine]:
    label = name or "bank statement"
    if local(root) != "Document":
        raise StatementError(f"{label}: root element is <{local(root)}>, expected an ISO 20022 <Document>")
    body = next((child for child in root if isinstance(child.tag, str)), None)
    if body is None or local(body) not in camt.KINDS:
        found = local(body) if body is not None else "nothing"
        raise StatementError(f"{label}: <Document> holds <{found}>, not a camt.052/053/054 message")
    kind, record_tag = camt.KINDS[local(body)]
    message = iso20022.message_name(root)
    namespace = iso20022.namespace_of(root)
    if namespace and not (message or "").startswith(kind + "."):
        raise StatementError(
            f"{label}: wrong namespace {namespace!r} for a {kind} message (<{local(body)}>): "
            f"expected urn:iso:std:iso:20022:tech:xsd:{kind}.001.NN"
        )
    version = re.fullmatch(r"camt\.\d{3}\.001\.(\d{2})", message or "")
    if namespace and (version is None or not 2 <= int(version.group(1)) <= LATEST_CAMT_VERSION):
        raise StatementError(
            f"{label}: namespace {namespace!r} names no published {kind} version: expected {kind}.001.02 to "
            f"{kind}.001.{LATEST_CAMT_VERSION:02d}"
        )
    header = find(body, "GrpHdr")
    records = list(iso20022.children(body, record_tag))
    if not records:
        raise StatementError(f"{label}: the {kind} message has no <{record_tag}> block")
    lines: list[BankLine] = []
    for record_number, node in enumerate(records):
        try:
            record = camt._record(node)
            entry_nodes = findall(node, "Ntry")
            for entry, entry_node in zip(record.entries, entry_nodes, strict=True):
                if entry.booked:
                    base = entry.account_servicer_ref or entry.entry_ref
                    base = base or f"{record.id or text(header, 'MsgId') or 'record'}#{record_number + 1}.{entry.index + 1}"
                    lines.extend(_entry_lines(record, entry, entry_node, base, name))
        except StatementError as exc:
            raise StatementError(f"{label}: {str(exc).removeprefix('bank statement: ')}") from None
    return lines


def _entry_lines(record: camt.Record, entry: camt.Entry, node: Element, base: str, name: str) -> list[BankLine]:
    detail_nodes = findall(node, "NtryDtls/TxDtls")
    account = record.account_iban or record.account_id
    common: dict[str, Any] = {
        "account_iban": account,
        "booking_date": entry.booking_date,
        "value_date": entry.value_date,
        "source": name,
        "entry_reference": entry.account_servicer_ref or entry.entry_ref or entry.batch_payment_info_id,
    }
    if not detail_nodes:
        return [
            BankLine(
                bank_reference=base,
                amount=entry.amount,
                currency=entry.currency,
                direction=_direction(entry.credit_debit),
                kind=_kind(entry.bank_tx_code, None, entry.reversal),
                remittance_text=entry.additional_info,
                bank_tx_code=entry.bank_tx_code,
                charges=_charges(node),
                **common,
            )
        ]
    several = len(detail_nodes) > 1
    # camt._entry read the details in document order: pair them with their elements for what it leaves out.
    details = list(zip(entry.details, detail_nodes, strict=True))
    if several:
        amounts = [_detail_amount(el, entry) for _, el in details]
        signed = [
            (a[0] if d.credit_debit == "CRDT" else -a[0]) if a is not None and a[1] == entry.currency else None
            for (d, _), a in zip(details, amounts, strict=True)
        ]
        if None in signed or sum(s for s in signed if s is not None) != entry.signed_amount:
            # No split, or one that does not add up to the booking: the booking stays one line.
            return [_merged_line(entry, node, details, base, common)]
    else:
        # A sole transaction is the booking: its amount and direction are the entry's (a detail's own figure may
        # leave out charges, as InstdAmt does, or be in another currency).
        amounts = [(entry.amount, entry.currency)]
        details = [(replace(details[0][0], credit_debit=entry.credit_debit), details[0][1])]
    lines = []
    for (detail, element), amount in zip(details, amounts, strict=True):
        assert amount is not None
        reference = (
            detail.account_servicer_ref if detail.account_servicer_ref and (not several or detail.account_servicer_ref != base) else base
        )
        code = detail.bank_tx_code or entry.bank_tx_code
        kind = _kind(code, detail.return_reason, entry.reversal)
        name_, iban = _counterparty(element, detail.credit_debit, kind, record.account_iban)
        lines.append(
            BankLine(
                bank_reference=reference,
                amount=amount[0],
                currency=amount[1],
                direction=_direction(detail.credit_debit),
                kind=kind,
                reason_code=detail.return_reason,
                end_to_end_id=detail.end_to_end_id,
                mandate_reference=detail.mandate_id,
                creditor_reference=_compact_ref(detail.creditor_reference),
                remittance_text=_text(element, entry if not several else None),
                structured=_structured(element),
                counterparty_name=name_,
                counterparty_iban=iban,
                bank_tx_code=code,
                charges=_charges(element) or (_charges(node) if not several else 0),
                **common,
            )
        )
    return lines


def _merged_line(
    entry: camt.Entry,
    node: Element,
    details: list[tuple[camt.TransactionDetail, Element]],
    base: str,
    common: dict[str, Any],
) -> BankLine:
    """An entry whose details carry no amounts: one line for the booking, with every detail's references."""

    def only(values: list[str | None]) -> str | None:
        distinct = {v for v in values if v}
        return distinct.pop() if len(distinct) == 1 and None not in values else None

    structured: list[RemittanceRef] = []
    texts: list[str] = []
    for _, element in details:
        structured.extend(r for r in _structured(element) if r not in structured)
        value = _text(element, None)
        if value and value not in texts:
            texts.append(value)
    if entry.additional_info and entry.additional_info not in texts:
        texts.append(entry.additional_info)
    reasons = [d.return_reason for d, _ in details]
    kind = _kind(entry.bank_tx_code or details[0][0].bank_tx_code, only(reasons), entry.reversal)
    parties = [_counterparty(el, d.credit_debit, kind, common["account_iban"]) for d, el in details]
    return BankLine(
        bank_reference=base,
        amount=entry.amount,
        currency=entry.currency,
        direction=_direction(entry.credit_debit),
        kind=kind,
        reason_code=only(reasons),
        end_to_end_id=only([d.end_to_end_id for d, _ in details]),
        mandate_reference=only([d.mandate_id for d, _ in details]),
        creditor_reference=_compact_ref(only([d.creditor_reference for d, _ in details])),
        remittance_text=" ".join(texts) or None,
        structured=tuple(structured),
        counterparty_name=only([p[0] for p in parties]),
        counterparty_iban=only([p[1] for p in parties]),
        bank_tx_code=entry.bank_tx_code or details[0][0].bank_tx_code,
        charges=_charges(node) or sum(_charges(el) for _, el in details),
        **common,
    )


def _detail_amount(element: Element, entry: camt.Entry) -> tuple[int, str] | None:
    """The booked amount of one transaction of a collective booking: ``Amt`` (camt .04+), else ``AmtDtls/TxAmt``,
    else ``AmtDtls/InstdAmt`` (the instructed amount: what .02 banks often give alone)."""
    where = f"entry {entry.index + 1} detail"
    for path in ("Amt", "AmtDtls/TxAmt/Amt", "AmtDtls/InstdAmt/Amt"):
        amount = camt._amount(find(element, path), where)
        if amount is not None:
            return amount
    return None


def _charges(element: Element) -> int:
    """Bank charges (``Chrgs``) in minor units: ``TtlChrgsAndTaxAmt`` when given, else the sum of the records
    (``Chrgs/Rcrd/Amt`` in .04+, repeated ``Chrgs/Amt`` in .02)."""
    total = 0
    for charges in iso20022.children(element, "Chrgs"):
        overall = camt._amount(find(charges, "TtlChrgsAndTaxAmt"), "charges")
        if overall is not None:
            total += overall[0]
            continue
        for amount_node in [*findall(charges, "Rcrd/Amt"), *iso20022.children(charges, "Amt")]:
            amount = camt._amount(amount_node, "charges")
            if amount is not None:
                total += amount[0]
    return total


def _structured(element: Element) -> tuple[RemittanceRef, ...]:
    refs: list[RemittanceRef] = []
    for block in findall(element, "RmtInf/Strd"):
        documents = findall(block, "RfrdDocInf")
        amount = None
        if len(documents) == 1:
            for path in ("RfrdDocAmt/RmtdAmt", "RfrdDocAmt/DuePyblAmt"):
                found = camt._amount(find(block, path), "referred document")
                if found is not None:
                    amount = found[0]
                    break
        for document in documents:
            number = text(document, "Nb")
            if number:
                code = text(document, "Tp/CdOrPrtry/Cd")
                refs.append(RemittanceRef(number, amount, "credit_note" if code == "CREN" else "invoice"))
        for info in findall(block, "CdtrRefInf"):
            reference = _compact_ref(text(info, "Ref"))
            if reference:
                refs.append(RemittanceRef(reference, amount if not documents else None, "creditor_reference"))
    return tuple(refs)


def _text(element: Element, entry: camt.Entry | None) -> str | None:
    parts: list[str] = []
    for value in [
        *(text(u) for u in findall(element, "RmtInf/Ustrd")),
        *(text(a) for a in findall(element, "RmtInf/Strd/AddtlRmtInf")),
        text(element, "AddtlTxInf"),
        entry.additional_info if entry else None,
    ]:
        if value and value not in parts:
            parts.append(value)
    return " ".join(parts) or None


def _counterparty(element: Element, credit_debit: str, kind: LineKind, own_iban: str | None) -> tuple[str | None, str | None]:
    """The other party: the debtor of a credit, the creditor of a debit; a return names the original parties, so
    the side that is our own account is swapped for the other."""
    parties = find(element, "RltdPties")

    def side(role: str) -> tuple[str | None, str | None]:
        name = text(parties, f"{role}/Nm") or text(parties, f"{role}/Pty/Nm") or text(parties, f"Ultmt{role}/Nm")
        return name, camt._compact(text(parties, f"{role}Acct/Id/IBAN"))

    first, second = ("Dbtr", "Cdtr") if credit_debit == "CRDT" else ("Cdtr", "Dbtr")
    chosen = side(first)
    if kind == "return":
        other = side(second)
        if (own_iban and chosen[1] == own_iban) or (chosen == (None, None) and other != (None, None)):
            chosen = other
    return chosen


def _kind(code: str | None, return_reason: str | None, reversal: bool) -> LineKind:
    if return_reason:
        return "return"
    parts = (code or "").replace("+", "-").split("-")
    if any(p in RETURN_SUBFAMILIES for p in parts) or mt940.gvc_kind(code) == "return":
        return "return"
    if reversal:
        return "return"
    if any(p in FEE_CODES for p in parts[1:]) or mt940.gvc_kind(code) == "fee":
        return "fee"
    if parts[0] in OTHER_DOMAINS:
        return "other"
    return "payment"


def _direction(credit_debit: str) -> Direction:
    return "credit" if credit_debit == "CRDT" else "debit"


def _compact_ref(value: str | None) -> str | None:
    return "".join(value.split()).upper() if value else None
