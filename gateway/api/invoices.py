"""``/v1/invoices``: issued invoices and credit notes, and their documents (XRechnung UBL and CII, ZUGFeRD PDF).

Lists and details are read like settlements: a party sees the documents it issued or received (another's answers
404). A document carries both parties' addresses and bank details in full, as sent: its issuer and its buyer may
download it, and the operator; an auditor, who sees IBANs masked, may not (403: the details, numbers and
``document_hash`` are open to it). Each download is checked against the SHA-256 recorded at issuance (409 if the
stored file changed).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gateway.api.deps import ADDRESS_PATTERN, PageDep, ReaderDep, SessionDep, StateDep, address_param, narrow
from gateway.api.schemas import Address, Money
from gateway.invoicing.document import rate_from_hundredths
from gateway.invoicing.store import DocumentStore
from gateway.models import IssuedInvoice
from settle.auth.principal import Kind, Principal
from settle.http import errors

router = APIRouter(prefix="/v1/invoices", tags=["invoices"], responses=errors(401, 403, 422))
NUMBER_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,35}$"
NumberPath = Annotated[str, Path(pattern=NUMBER_PATTERN, description="An invoice number, e.g. RE-2026-000001.")]
FORMATS = "^(ubl|cii|pdf)$"
#: Invoices are issued in currencies with two minor digits only (gateway.invoicing.document refuses others).
INVOICE_DIGITS = 2


class InvoiceFileOut(BaseModel):
    format: str = Field(description="ubl (XRechnung UBL 2.1), cii (XRechnung CII D16B) or pdf (ZUGFeRD 2.3 / Factur-X EN 16931, PDF/A-3).")
    media_type: str
    sha256: str
    size: int


class InvoiceOut(BaseModel):
    number: str
    type_code: str = Field(description="380 invoice, 381 credit note (UNTDID 1001).")
    kind: str = Field(description="settlement, dispute (credit after a dispute) or write_off.")
    issuer: Address
    buyer: Address
    agreement: Address
    chain_id: int
    period: int
    issue_date: date
    due_date: date | None
    net: Money
    vat: Money
    gross: Money
    vat_category: str = Field(description="UNCL 5305: S, AE, K, G, E, Z, O.")
    vat_rate: str = Field(description="Percent, e.g. 19.00.")
    preceding_invoice: str | None = Field(description="Credit notes: the invoice they correct (BT-25).")
    document_hash: str = Field(description="keccak256 of the UBL document, as anchored on-chain.")
    anchor_state: str = Field(description="off, pending or anchored.")
    anchor_tx: str | None
    files: list[InvoiceFileOut]


def invoice_out(row: IssuedInvoice) -> InvoiceOut:
    digits = INVOICE_DIGITS
    return InvoiceOut(
        number=row.number,
        type_code=row.type_code,
        kind=row.kind,
        issuer=row.issuer,
        buyer=row.buyer,
        agreement=row.agreement,
        chain_id=row.chain_id,
        period=row.period,
        issue_date=row.issue_date,
        due_date=row.due_date,
        net=Money.of(row.net, digits, row.currency),
        vat=Money.of(row.vat, digits, row.currency),
        gross=Money.of(row.gross, digits, row.currency),
        vat_category=row.vat_category,
        vat_rate=str(rate_from_hundredths(row.vat_rate)),
        preceding_invoice=row.preceding.number if row.preceding is not None else None,
        document_hash=row.document_hash,
        anchor_state=row.anchor_state,
        anchor_tx=row.anchor_tx,
        files=[InvoiceFileOut(format=f.format, media_type=f.media_type, sha256=f.sha256, size=f.size) for f in row.files],
    )


@router.get("", summary="Invoices and credit notes, newest first")
def list_invoices(
    session: SessionDep,
    principal: ReaderDep,
    page: PageDep,
    agreement: Annotated[str | None, Query(pattern=ADDRESS_PATTERN, description="Only this agreement.")] = None,
    party: Annotated[str | None, Query(pattern=ADDRESS_PATTERN, description="Only documents this party issued or received.")] = None,
) -> list[InvoiceOut]:
    return find_invoices(
        session,
        narrow(principal),
        address_param(party, "party") if party else None,
        agreement=address_param(agreement, "agreement") if agreement else None,
        limit=page.limit,
        offset=page.offset,
    )


def find_invoices(
    session: Session, *parties: str | None, agreement: str | None = None, limit: int = 100, offset: int = 0
) -> list[InvoiceOut]:
    """Invoices and credit notes, newest first, that each given party issued or received (None: no restriction),
    of one agreement if given; also the dashboard's."""
    query = select(IssuedInvoice)
    for who in parties:
        if who is not None:
            query = query.where(or_(IssuedInvoice.issuer == who, IssuedInvoice.buyer == who))
    if agreement:
        query = query.where(IssuedInvoice.agreement == agreement)
    query = query.order_by(IssuedInvoice.id.desc()).limit(limit).offset(offset)
    return [invoice_out(row) for row in session.scalars(query)]


def _find(session: SessionDep, number: str, principal: Principal) -> IssuedInvoice:
    """The invoice with ``number`` among those the principal sees (numbers are unique per issuer, so a party sees at
    most one; the operator may find several)."""
    rows = list(session.scalars(select(IssuedInvoice).where(IssuedInvoice.number == number)))
    tenant = narrow(principal)
    if tenant is not None:
        rows = [r for r in rows if tenant in (r.issuer, r.buyer)]
    if not rows:
        raise HTTPException(404, f"invoice {number!r} does not exist")
    if len(rows) > 1:
        raise HTTPException(409, f"invoice number {number!r} is used by {len(rows)} issuers: list /v1/invoices?party=<issuer> instead")
    return rows[0]


@router.get("/{number}", summary="One invoice or credit note", responses=errors(404, 409))
def get_invoice(number: NumberPath, session: SessionDep, principal: ReaderDep) -> InvoiceOut:
    return invoice_out(_find(session, number, principal))


@router.get(
    "/{number}/{fmt}",
    summary="The document: XRechnung UBL or CII XML, or the ZUGFeRD PDF",
    responses={**errors(404, 409), 200: {"content": {"application/xml": {}, "application/pdf": {}}}},
    response_class=Response,
)
def download_invoice(
    number: NumberPath, fmt: Annotated[str, Path(pattern=FORMATS)], session: SessionDep, principal: ReaderDep, state: StateDep
) -> Response:
    if principal.kind is Kind.AUDITOR:
        raise HTTPException(403, "a document shows IBANs in full, which an auditor does not see: read the invoice's details instead")
    row = _find(session, number, principal)
    stored = row.file(fmt)
    if stored is None or state.invoice_dir is None:
        raise HTTPException(404, f"invoice {number} has no {fmt} document in this gateway's store")
    data = DocumentStore(state.invoice_dir).get(stored.sha256, fmt)
    suffix = "pdf" if fmt == "pdf" else f"{fmt}.xml"
    return Response(
        data,
        media_type=stored.media_type,
        headers={"Content-Disposition": f'attachment; filename="{row.number}.{suffix}"', "X-Content-SHA256": stored.sha256},
    )
