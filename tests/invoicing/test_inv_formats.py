"""Every sample invoice in every XML format is valid against its XSD, passes the rules and reads back equal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from invoice_samples import SAMPLES, credit_note, standard
from lxml import etree

from gateway.invoicing import cii, rules, schemas, ubl
from gateway.invoicing.cii import CiiProfile
from gateway.invoicing.document import EN16931, XRECHNUNG_3_0
from gateway.invoicing.schemas import SchemaKind

GOLDEN = Path(__file__).with_name("golden")


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_ubl_is_valid_and_reads_back(name):
    inv = SAMPLES[name]()
    xml = ubl.render_ubl(inv)
    kind = SchemaKind.UBL_CREDIT_NOTE if inv.is_credit_note else SchemaKind.UBL_INVOICE
    assert schemas.schema_errors(xml) == []
    assert schemas.kind_of(schemas.parse(xml)) == kind
    back = ubl.read_ubl(xml)
    assert (back.totals, back.vat_breakdown, back.payment, back.evidence) == (inv.totals, inv.vat_breakdown, inv.payment, inv.evidence)
    assert (back.seller, back.buyer, back.allowances_charges) == (inv.seller, inv.buyer, inv.allowances_charges)
    assert rules.check(back) == []


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_cii_is_valid_for_xrechnung_and_facturx(name):
    inv = SAMPLES[name]()
    xr = cii.render_cii(inv)
    fx = cii.render_cii(inv, CiiProfile.FACTURX_EN16931)
    assert schemas.schema_errors(xr) == []
    assert schemas.schema_errors(fx, SchemaKind.FACTURX_EN16931) == []
    assert schemas.schema_errors(fx, SchemaKind.CII_D16B) == []
    back = cii.read_cii(xr)
    assert back.specification == XRECHNUNG_3_0 and cii.read_cii(fx).specification == EN16931
    assert (back.totals, back.vat_breakdown, back.payment, back.evidence) == (inv.totals, inv.vat_breakdown, inv.payment, inv.evidence)
    assert (back.seller, back.buyer, back.allowances_charges) == (inv.seller, inv.buyer, inv.allowances_charges)
    assert rules.check(back) == []
    assert rules.check(cii.read_cii(fx), xrechnung=False) == []


def test_credit_note_refers_to_the_invoice():
    xml = ubl.render_ubl(credit_note())
    root = etree.fromstring(xml)
    assert etree.QName(root).localname == "CreditNote"
    ns = {"cac": ubl.NS_CAC, "cbc": ubl.NS_CBC}
    assert root.findtext("cbc:CreditNoteTypeCode", namespaces=ns) == "381"
    assert root.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=ns) == "RE-2026-000001"
    cii_root = etree.fromstring(cii.render_cii(credit_note()))
    assert cii_root.findtext(f".//{{{cii.NS_RAM}}}InvoiceReferencedDocument/{{{cii.NS_RAM}}}IssuerAssignedID") == "RE-2026-000001"


def test_schema_rejects_a_broken_document():
    root = ubl.render_ubl_tree(standard())
    root.remove(root.find(f"{{{ubl.NS_CBC}}}IssueDate"))
    errors = schemas.schema_errors(root)
    assert errors and "IssueDate" in errors[0]
    with pytest.raises(schemas.SchemaValidationError):
        schemas.validate(etree.tostring(root))


GOLDEN_CASES = {
    "standard.ubl.xml": lambda: ubl.render_ubl(standard()),
    "credit_note.ubl.xml": lambda: ubl.render_ubl(credit_note()),
    "standard.xrechnung.cii.xml": lambda: cii.render_cii(standard()),
    "standard.facturx.cii.xml": lambda: cii.render_cii(standard(), CiiProfile.FACTURX_EN16931),
}


@pytest.mark.parametrize("filename", sorted(GOLDEN_CASES))
def test_golden_files(filename):
    """Output is byte-for-byte stable; ``SETTLE_UPDATE_GOLDEN=1`` rewrites the files after a deliberate change."""
    produced = GOLDEN_CASES[filename]()
    path = GOLDEN / filename
    if os.environ.get("SETTLE_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(produced)
    assert produced == path.read_bytes()
