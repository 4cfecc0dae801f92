"""Settle's documents against the XSDs of ../shared/conformance/xsd themselves (not the vendored copies), when that
folder is present: every sample invoice and credit note in UBL, XRechnung CII and Factur-X CII."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest
from invoice_samples import SAMPLES
from lxml import etree

from gateway.invoicing import cii, ubl
from gateway.invoicing.cii import CiiProfile

XSD = Path(os.environ.get("SETTLE_CONFORMANCE") or Path(__file__).resolve().parents[2].parent / "shared" / "conformance") / "xsd"
pytestmark = pytest.mark.skipif(not XSD.is_dir(), reason="../shared/conformance is not present")


@cache
def _schema(relative: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD / relative)))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_format_is_valid_against_the_shared_xsds(name: str) -> None:
    invoice = SAMPLES[name]()
    main = "ubl-2.1/maindoc/UBL-CreditNote-2.1.xsd" if invoice.is_credit_note else "ubl-2.1/maindoc/UBL-Invoice-2.1.xsd"
    documents = [
        (main, ubl.render_ubl(invoice)),
        ("cii-d16b/CrossIndustryInvoice_100pD16B.xsd", cii.render_cii(invoice, CiiProfile.XRECHNUNG)),
        ("facturx-1.09/EN16931/FACTUR-X_EN16931.xsd", cii.render_cii(invoice, CiiProfile.FACTURX_EN16931)),
    ]
    for schema, xml in documents:
        checker = _schema(schema)
        assert checker.validate(etree.fromstring(xml)), f"{name} against {schema}: {checker.error_log}"
