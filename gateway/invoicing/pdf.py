"""ZUGFeRD 2.3 / Factur-X 1.0, profile EN 16931: a PDF/A-3b invoice with the CII XML embedded as ``factur-x.xml``.

The visible page is drawn with reportlab in German (``language="en"`` for English) using the Bitstream Vera
TrueType fonts that ship inside reportlab (so nothing outside pip is needed), embedded as subsets; no base-14
font is ever referenced. pypdf adds the PDF/A output intent (an sRGB ICC profile made by Pillow's littleCMS),
then the ``factur-x`` library embeds the XML (``AFRelationship /Data``, listed in the catalog's ``/AF``) and writes
the XMP metadata (``pdfaid:part 3``, ``conformance B`` and the Factur-X extension schema naming the profile).

:func:`render_pdf` draws the same page for the same invoice (reportlab's invariant mode); the XMP and info
dates are the time of rendering (factur-x sets them), so the PDF bytes differ between runs and the tests compare
the embedded XML and the structure, not the bytes.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import logging
from decimal import Decimal
from pathlib import Path

import reportlab  # type: ignore[import-untyped]
from pypdf import PdfReader
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfdoc import PDFArray, PDFDictionary, PDFName, PDFStream, PDFString, PDFZCompress  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from .cii import CiiProfile, render_cii
from .document import Invoice, InvoiceError, PaymentMeansCode, VatCategory
from .units import unit_name

FONT, FONT_BOLD = "SettleVera", "SettleVera-Bold"
_FONT_DIR = Path(reportlab.__file__).with_name("fonts")

_TEXT = {
    "de": {
        "invoice": "Rechnung",
        "credit_note": "Gutschrift",
        "number": "Rechnungsnummer",
        "credit_number": "Gutschriftnummer",
        "date": "Rechnungsdatum",
        "period": "Leistungszeitraum",
        "due": "Fällig am",
        "buyer_ref": "Ihre Referenz",
        "preceding": "Bezieht sich auf Rechnung",
        "vat_id": "USt-IdNr.",
        "tax_no": "Steuernummer",
        "pos": "Pos.",
        "item": "Leistung",
        "qty": "Menge",
        "unit": "Einheit",
        "price": "Einzelpreis",
        "amount": "Betrag netto",
        "line_total": "Summe Positionen",
        "allowance": "Nachlass",
        "charge": "Zuschlag",
        "net": "Gesamtbetrag netto",
        "vat": "Umsatzsteuer",
        "gross": "Gesamtbetrag brutto",
        "prepaid": "Bereits bezahlt",
        "payable": "Zahlbetrag",
        "vat_breakdown": "Aufschlüsselung der Umsatzsteuer",
        "category": "Kategorie",
        "rate": "Satz",
        "taxable": "Bemessungsgrundlage",
        "tax": "Steuer",
        "payment": "Zahlung",
        "transfer": "Bitte überweisen Sie den Zahlbetrag per SEPA-Überweisung",
        "debit": "Der Zahlbetrag wird per SEPA-Lastschrift eingezogen",
        "iban": "IBAN",
        "bic": "BIC",
        "reference": "Verwendungszweck",
        "mandate": "Mandatsreferenz",
        "creditor": "Gläubiger-ID",
        "debtor": "Belastetes Konto",
        "evidence": "Nachweis auf der Blockchain",
        "chain": "Chain-ID",
        "agreement": "Vertrag (Adresse)",
        "billing_period": "Abrechnungsperiode",
        "tx": "Settle-Transaktion",
        "root": "Merkle-Wurzel der Nutzung",
        "embedded": "Diese PDF/A-3-Datei enthält die Rechnung als strukturierte Daten (factur-x.xml, EN 16931).",
        "page": "Seite",
    },
    "en": {
        "invoice": "Invoice",
        "credit_note": "Credit note",
        "number": "Invoice number",
        "credit_number": "Credit note number",
        "date": "Invoice date",
        "period": "Service period",
        "due": "Due date",
        "buyer_ref": "Your reference",
        "preceding": "Refers to invoice",
        "vat_id": "VAT ID",
        "tax_no": "Tax number",
        "pos": "No.",
        "item": "Service",
        "qty": "Quantity",
        "unit": "Unit",
        "price": "Unit price",
        "amount": "Net amount",
        "line_total": "Sum of lines",
        "allowance": "Allowance",
        "charge": "Charge",
        "net": "Total net",
        "vat": "VAT",
        "gross": "Total gross",
        "prepaid": "Paid in advance",
        "payable": "Amount due",
        "vat_breakdown": "VAT breakdown",
        "category": "Category",
        "rate": "Rate",
        "taxable": "Taxable amount",
        "tax": "Tax",
        "payment": "Payment",
        "transfer": "Please pay the amount due by SEPA credit transfer",
        "debit": "The amount due will be collected by SEPA direct debit",
        "iban": "IBAN",
        "bic": "BIC",
        "reference": "Reference",
        "mandate": "Mandate reference",
        "creditor": "Creditor ID",
        "debtor": "Debited account",
        "evidence": "On-chain evidence",
        "chain": "Chain ID",
        "agreement": "Agreement (address)",
        "billing_period": "Billing period",
        "tx": "Settle transaction",
        "root": "Usage Merkle root",
        "embedded": "This PDF/A-3 file carries the invoice as structured data (factur-x.xml, EN 16931).",
        "page": "Page",
    },
}
_CATEGORY = {
    "de": {
        "S": "Normalsatz",
        "AE": "Reverse Charge",
        "K": "innergem. Lieferung",
        "G": "Ausfuhr",
        "E": "steuerfrei",
        "Z": "Nullsatz",
        "O": "nicht steuerbar",
    },
    "en": {
        "S": "standard",
        "AE": "reverse charge",
        "K": "intra-EU supply",
        "G": "export",
        "E": "exempt",
        "Z": "zero rated",
        "O": "outside scope",
    },
}


@functools.cache
def _register_fonts() -> None:
    pdfmetrics.registerFont(TTFont(FONT, str(_FONT_DIR / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(_FONT_DIR / "VeraBd.ttf")))


@functools.cache
def srgb_icc_profile() -> bytes:
    """An sRGB ICC profile (made by littleCMS through Pillow) for the PDF/A output intent."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _money(minor: int, currency: str, language: str) -> str:
    whole, frac = divmod(abs(minor), 100)
    sign = "-" if minor < 0 else ""
    if language == "de":
        return f"{sign}{whole:,}".replace(",", ".") + f",{frac:02d} {currency}"
    return f"{sign}{whole:,}.{frac:02d} {currency}"


def _number(value: Decimal, language: str) -> str:
    text = format(value, "f")
    whole, _, frac = text.partition(".")
    sep, dec = (".", ",") if language == "de" else (",", ".")
    negative = whole.startswith("-")
    digits = whole.lstrip("-")
    grouped = f"{int(digits):,}".replace(",", sep) if digits else "0"
    return ("-" if negative else "") + grouped + (dec + frac if frac else "")


def _date(value: dt.date, language: str) -> str:
    return value.strftime("%d.%m.%Y") if language == "de" else value.isoformat()


class _Page:
    """A tiny cursor-based writer over a reportlab canvas with page breaks."""

    def __init__(self, canvas: Canvas, language: str, title: str):
        self.c = canvas
        self.lang = language
        self.title = title
        self.width, self.height = A4
        self.left, self.right = 20 * mm, self.width - 20 * mm
        self.y = self.height - 20 * mm
        self.page = 1

    def need(self, height: float) -> None:
        if self.y - height < 22 * mm:
            self.footer()
            self.c.showPage()
            self.page += 1
            self.y = self.height - 20 * mm
            self.text(self.title, bold=True)
            self.y -= 4

    def footer(self) -> None:
        self.c.setFont(FONT, 7)
        self.c.drawString(self.left, 12 * mm, _TEXT[self.lang]["embedded"])
        self.c.drawRightString(self.right, 12 * mm, f"{_TEXT[self.lang]['page']} {self.page}")

    def text(self, s: str, *, size: float = 9, bold: bool = False, x: float | None = None, advance: bool = True) -> None:
        self.need(size + 3)
        self.c.setFont(FONT_BOLD if bold else FONT, size)
        self.c.drawString(self.left if x is None else x, self.y, s)
        if advance:
            self.y -= size + 3

    def row(self, cells: list[tuple[float, str, str]], *, size: float = 8.5, bold: bool = False) -> None:
        """cells: (x, alignment 'l'|'r', text)."""
        self.need(size + 3)
        self.c.setFont(FONT_BOLD if bold else FONT, size)
        for x, align, s in cells:
            if align == "r":
                self.c.drawRightString(x, self.y, s)
            else:
                self.c.drawString(x, self.y, s)
        self.y -= size + 3

    def rule(self) -> None:
        self.need(4)
        self.c.setLineWidth(0.5)
        self.c.line(self.left, self.y + 6, self.right, self.y + 6)
        self.y -= 2

    def gap(self, h: float = 6) -> None:
        self.y -= h


def _fit(s: str, limit: int) -> str:
    return s if len(s) <= limit else s[: limit - 1] + "…"


def render_visual(inv: Invoice, *, language: str = "de") -> bytes:
    """The human-readable page(s) as a plain PDF with embedded fonts (no PDF/A parts yet)."""
    if language not in _TEXT:
        raise InvoiceError(f"language {language!r} is not supported (de, en)")
    _register_fonts()
    tx = _TEXT[language]
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4, invariant=1, initialFontName=FONT, initialFontSize=9, pageCompression=1, pdfVersion=(1, 7))
    kind = tx["credit_note"] if inv.is_credit_note else tx["invoice"]
    canvas.setTitle(f"{kind} {inv.number}")
    canvas.setAuthor(inv.seller.name)
    canvas.setSubject(f"{kind} {inv.number} {inv.seller.name} → {inv.buyer.name}")
    canvas.setCreator("Settle")
    p = _Page(canvas, language, f"{kind} {inv.number} – {inv.seller.name}")
    cur = inv.currency

    # Seller header (right) and buyer address (left).
    s, b = inv.seller, inv.buyer
    top = p.y
    seller_lines = [s.name]
    if s.address:
        seller_lines += [s.address.line1] + ([s.address.line2] if s.address.line2 else [])
        seller_lines.append(f"{s.address.country_code}-{s.address.post_code} {s.address.city}")
    if s.vat_id:
        seller_lines.append(f"{tx['vat_id']} {s.vat_id}")
    if s.tax_number:
        seller_lines.append(f"{tx['tax_no']} {s.tax_number}")
    if s.legal_id:
        seller_lines.append(s.legal_id)
    if s.contact:
        seller_lines += [x for x in (s.contact.name, s.contact.phone, s.contact.email) if x]
    for i, text in enumerate(seller_lines):
        canvas.setFont(FONT_BOLD if i == 0 else FONT, 8.5)
        canvas.drawRightString(p.right, top - i * 11, _fit(text, 60))
    canvas.setFont(FONT, 7)
    if s.address:
        canvas.drawString(p.left, top, _fit(f"{s.name} · {s.address.line1} · {s.address.post_code} {s.address.city}", 80))
    p.y = top - 16
    buyer_lines = [b.name]
    if b.address:
        buyer_lines += [b.address.line1] + ([b.address.line2] if b.address.line2 else [])
        buyer_lines.append(f"{b.address.country_code}-{b.address.post_code} {b.address.city}")
    if b.vat_id:
        buyer_lines.append(f"{tx['vat_id']} {b.vat_id}")
    for i, text in enumerate(buyer_lines):
        p.text(_fit(text, 55), size=10, bold=i == 0)
    p.y = min(p.y, top - len(seller_lines) * 11) - 18

    p.text(f"{kind} {inv.number}", size=15, bold=True)
    p.gap(2)
    facts = [(tx["credit_number"] if inv.is_credit_note else tx["number"], inv.number), (tx["date"], _date(inv.issue_date, language))]
    if inv.period_start and inv.period_end:
        facts.append((tx["period"], f"{_date(inv.period_start, language)} – {_date(inv.period_end, language)}"))
    if inv.due_date:
        facts.append((tx["due"], _date(inv.due_date, language)))
    if inv.buyer_reference:
        facts.append((tx["buyer_ref"], inv.buyer_reference))
    if inv.preceding_invoice:
        ref = inv.preceding_invoice + (f" ({_date(inv.preceding_invoice_date, language)})" if inv.preceding_invoice_date else "")
        facts.append((tx["preceding"], ref))
    for label, value in facts:
        p.row([(p.left, "l", label), (p.left + 45 * mm, "l", value)])
    p.gap()

    # Lines.
    cols = [p.left, p.left + 10 * mm, p.left + 100 * mm, p.left + 104 * mm, p.left + 145 * mm, p.right]
    p.row(
        [(cols[0], "l", tx["pos"]), (cols[1], "l", tx["item"]), (cols[2], "r", tx["qty"]), (cols[3], "l", tx["unit"])]
        + [(cols[4], "r", tx["price"]), (cols[5], "r", tx["amount"])],
        bold=True,
    )
    p.rule()
    for line in inv.lines:
        shown_price = line.price if line.price != line.price.quantize(Decimal("0.01")) else line.price.quantize(Decimal("0.01"))
        price = _number(shown_price, language) + (f" / {_number(line.base_quantity, language)}" if line.base_quantity is not None else "")
        p.row(
            [(cols[0], "l", line.id), (cols[1], "l", _fit(line.name, 48)), (cols[2], "r", _number(line.quantity, language))]
            + [(cols[3], "l", _fit(unit_name(line.unit_code, language), 16)), (cols[4], "r", price)]
            + [(cols[5], "r", _money(line.net_amount, cur, language))]
        )
        for note in line.notes:
            p.row([(cols[1] + 3 * mm, "l", _fit(note, 95))], size=7.5)
    p.rule()

    # Totals.
    t = inv.totals
    label_x, amount_x = p.left + 70 * mm, p.right

    def total(label: str, minor: int, bold: bool = False) -> None:
        p.row([(label_x, "l", label), (amount_x, "r", _money(minor, cur, language))], bold=bold)

    total(tx["line_total"], t.line_net_total)
    for ac in inv.allowances_charges:
        sign = 1 if ac.is_charge else -1
        total(_fit(f"{tx['charge'] if ac.is_charge else tx['allowance']}: {ac.reason}", 52), sign * ac.amount)
    total(tx["net"], t.tax_exclusive)
    for vb in inv.vat_breakdown:
        total(f"{tx['vat']} {_number(vb.rate.normalize(), language)} %", vb.tax_amount)
    total(tx["gross"], t.tax_inclusive, bold=True)
    if t.prepaid:
        total(tx["prepaid"], -t.prepaid)
    if t.prepaid or t.rounding or t.payable != t.tax_inclusive:
        total(tx["payable"], t.payable, bold=True)
    p.gap()

    # VAT breakdown.
    p.text(tx["vat_breakdown"], bold=True)
    vcols = [p.left, p.left + 45 * mm, p.left + 110 * mm, p.right]
    p.row(
        [(vcols[0], "l", tx["category"]), (vcols[1], "r", tx["rate"]), (vcols[2], "r", tx["taxable"]), (vcols[3], "r", tx["tax"])],
        bold=True,
    )
    for vb in inv.vat_breakdown:
        label = f"{vb.category.value} ({_CATEGORY[language].get(vb.category.value, vb.category.value)})"
        p.row(
            [(vcols[0], "l", label), (vcols[1], "r", f"{_number(vb.rate.normalize(), language)} %")]
            + [(vcols[2], "r", _money(vb.taxable_amount, cur, language)), (vcols[3], "r", _money(vb.tax_amount, cur, language))]
        )
        if vb.exemption_reason or vb.exemption_code:
            p.row([(vcols[0] + 3 * mm, "l", _fit(" – ".join(x for x in (vb.exemption_reason, vb.exemption_code) if x), 100))], size=7.5)
    for note in inv.notes:
        if inv.evidence is not None and note == inv.evidence.note():
            continue
        p.text(_fit(note, 110), size=8, bold=any(vb.category == VatCategory.REVERSE_CHARGE for vb in inv.vat_breakdown) and "13b" in note)
    p.gap()

    # Payment.
    pay = inv.payment
    if pay is not None or inv.payment_terms:
        p.text(tx["payment"], bold=True)
        if inv.payment_terms:
            p.text(_fit(inv.payment_terms, 110), size=8.5)
        if pay is not None:
            debit = pay.means_code == PaymentMeansCode.SEPA_DIRECT_DEBIT
            if pay.means_code in (PaymentMeansCode.SEPA_CREDIT_TRANSFER, PaymentMeansCode.SEPA_DIRECT_DEBIT):
                p.text(tx["debit"] if debit else tx["transfer"], size=8.5)
            rows = []
            if pay.payee_account_name:
                rows.append(("", pay.payee_account_name))
            if pay.payee_iban:
                rows.append((tx["iban"], " ".join(pay.payee_iban[i : i + 4] for i in range(0, len(pay.payee_iban), 4))))
            if pay.payee_bic:
                rows.append((tx["bic"], pay.payee_bic))
            if pay.remittance_info:
                rows.append((tx["reference"], pay.remittance_info))
            if pay.mandate_reference:
                rows.append((tx["mandate"], pay.mandate_reference))
            if pay.creditor_id:
                rows.append((tx["creditor"], pay.creditor_id))
            if pay.debtor_iban_masked:
                rows.append((tx["debtor"], pay.debtor_iban_masked))
            for label, value in rows:
                p.row([(p.left, "l", label), (p.left + 45 * mm, "l", value)])
        p.gap()

    # On-chain evidence.
    ev = inv.evidence
    if ev is not None:
        p.text(tx["evidence"], bold=True)
        for label, value in (
            (tx["chain"], str(ev.chain_id)),
            (tx["agreement"], ev.agreement_address),
            (tx["billing_period"], str(ev.period)),
            (tx["tx"], ev.settle_tx_hash),
            (tx["root"], ev.usage_root),
        ):
            p.row([(p.left, "l", label), (p.left + 45 * mm, "l", value)], size=7.5)
    p.footer()
    canvas.showPage()
    _add_output_intent(canvas)
    canvas.save()
    return buf.getvalue()


def _add_output_intent(canvas: Canvas) -> None:
    """Put the PDF/A output intent (sRGB ICC profile) into the catalog reportlab writes.

    reportlab has no public API for catalog entries it does not know; its catalog writes every name listed in
    ``__NoDefault__`` that is set as an attribute, so the entry is added there (one pass instead of re-writing
    the finished PDF with pypdf, which costs ~10 ms per invoice). tests/invoicing check the entry is there.
    """
    doc = canvas._doc
    icc = PDFStream(PDFDictionary({"N": 3}), srgb_icc_profile(), filters=[PDFZCompress])
    intent = PDFDictionary(
        {
            "Type": PDFName("OutputIntent"),
            "S": PDFName("GTS_PDFA1"),
            "OutputConditionIdentifier": PDFString("sRGB IEC61966-2.1"),
            "Info": PDFString("sRGB IEC61966-2.1"),
            "DestOutputProfile": doc.Reference(icc),
        }
    )
    catalog = doc.Catalog
    catalog.OutputIntents = PDFArray([intent])
    catalog.__NoDefault__ = [*type(catalog).__NoDefault__, "OutputIntents"]


def render_pdf(inv: Invoice, *, language: str = "de", cii_xml: bytes | None = None) -> bytes:
    """The ZUGFeRD 2.3 / Factur-X EN 16931 PDF/A-3b of ``inv``.

    ``cii_xml`` is the Factur-X CII to embed (``render_cii(inv, CiiProfile.FACTURX_EN16931)`` when not given;
    pass the bytes you validated and stored, so the attachment is exactly those bytes).
    """
    import facturx  # type: ignore[import-untyped]

    xml = cii_xml if cii_xml is not None else render_cii(inv, CiiProfile.FACTURX_EN16931)
    base = render_visual(inv, language=language)
    kind = _TEXT[language]["credit_note" if inv.is_credit_note else "invoice"]
    metadata = {
        "author": inv.seller.name,
        "keywords": "Factur-X, ZUGFeRD, EN 16931, " + kind,
        "title": f"{inv.seller.name}: {kind} {inv.number}",
        "subject": f"{kind} {inv.number} ({inv.issue_date.isoformat()}) {inv.seller.name} → {inv.buyer.name}",
    }
    logging.getLogger("factur-x").setLevel(logging.WARNING)
    return bytes(
        facturx.generate_from_binary(
            base,
            xml,
            flavor="factur-x",
            level="en16931",
            check_xsd=False,  # validated by schemas.py against the vendored Factur-X XSD before release
            pdf_metadata=metadata,
            lang="de-DE" if language == "de" else "en-GB",
            afrelationship="data",
        )
    )


def embedded_xml(pdf: bytes) -> bytes:
    """The ``factur-x.xml`` attachment of a Factur-X PDF (to check what was embedded)."""
    reader = PdfReader(io.BytesIO(pdf))
    files = reader.attachments.get("factur-x.xml")
    if not files:
        raise InvoiceError("the PDF has no factur-x.xml attachment")
    return files[0]
