"""The Factur-X PDF: PDF/A-3b markers, embedded fonts, sRGB output intent, factur-x.xml that round-trips."""

from __future__ import annotations

import dataclasses
import io

import pytest
from invoice_samples import SAMPLES, credit_note, reverse_charge, standard
from pypdf import PdfReader

from gateway.invoicing import cii, pdf, rules, schemas
from gateway.invoicing.cii import CiiProfile
from gateway.invoicing.schemas import SchemaKind


def _fonts(reader: PdfReader) -> list:
    fonts = []
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            fonts.append(font.get_object())
    return fonts


@pytest.fixture(scope="module")
def rendered():
    out = {}
    for name, make in SAMPLES.items():
        inv = make()
        xml = cii.render_cii(inv, CiiProfile.FACTURX_EN16931)
        out[name] = (inv, xml, pdf.render_pdf(inv, cii_xml=xml))
    return out


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_pdf_is_pdfa3b_with_the_xml(rendered, name):
    inv, xml, data = rendered[name]
    assert data.startswith(b"%PDF-1.7")
    reader = PdfReader(io.BytesIO(data))
    root = reader.trailer["/Root"]
    assert "/Encrypt" not in reader.trailer and reader.trailer.get("/ID")
    # XMP: PDF/A-3B and the Factur-X extension schema with the EN 16931 profile
    xmp = root["/Metadata"].get_object().get_data().decode()
    assert "<pdfaid:part>3</pdfaid:part>" in xmp and "<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>" in xmp
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in xmp
    # Output intent with an RGB ICC profile
    (intent,) = [i.get_object() for i in root["/OutputIntents"]]
    assert intent["/S"] == "/GTS_PDFA1"
    icc = intent["/DestOutputProfile"].get_object()
    assert icc["/N"] == 3 and icc.get_data()[36:40] == b"acsp"
    # Associated file: factur-x.xml, AFRelationship Data, text/xml
    (spec,) = [f.get_object() for f in root["/AF"]]
    assert spec["/F"] == "factur-x.xml" and spec["/AFRelationship"] == "/Data"
    assert spec["/EF"]["/F"].get_object()["/Subtype"] == "/text/xml"
    # Every font embedded (no base-14 reference)
    fonts = _fonts(reader)
    assert fonts and all("/FontFile2" in f["/FontDescriptor"] for f in fonts)
    # The attachment is the very XML, valid, and reads back to the same invoice
    embedded = pdf.embedded_xml(data)
    assert embedded == xml
    assert schemas.schema_errors(embedded, SchemaKind.FACTURX_EN16931) == []
    back = cii.read_cii(embedded)
    assert (back.number, back.totals, back.vat_breakdown, back.payment) == (inv.number, inv.totals, inv.vat_breakdown, inv.payment)
    assert rules.check(back, xrechnung=False) == []


def test_readable_text_german_and_english():
    de = PdfReader(io.BytesIO(pdf.render_pdf(reverse_charge()))).pages[0].extract_text()
    for expected in (
        "Rechnung RE-2026-000002",
        "Steuerschuldnerschaft des Leistungsempfängers",
        "Aufschlüsselung der Umsatzsteuer",
        "Nachweis auf der Blockchain",
        "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "290,00 EUR",
        "DE89 3704 0044 0532 0130 00",
    ):
        assert expected in de, expected
    en = PdfReader(io.BytesIO(pdf.render_pdf(credit_note(), language="en"))).pages[0].extract_text()
    for expected in ("Credit note GS-2026-000001", "Refers to invoice", "RE-2026-000001", "VAT breakdown", "107.10 EUR"):
        assert expected in en, expected


def test_many_lines_break_onto_more_pages():
    inv = standard()
    line = inv.lines[2]
    many = dataclasses.replace(inv, lines=tuple(dataclasses.replace(line, id=str(i)) for i in range(1, 80)))
    reader = PdfReader(io.BytesIO(pdf.render_visual(many)))
    assert len(reader.pages) >= 2


def test_unknown_language_refused():
    with pytest.raises(Exception, match="language"):
        pdf.render_visual(standard(), language="fr")
