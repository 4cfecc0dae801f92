"""pain.008 / pain.001 files: XSD-valid, structured RF remittance, deterministic, clear errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from gateway_testdata import AGREEMENT, CONFORMANCE, CREDITOR_ID, PAYEE_IBAN, PAYER_IBAN, needs_corpus
from lxml import etree

from gateway.banking import iso20022
from gateway.banking.references import creditor_reference, end_to_end_id
from gateway.banking.sepa import (
    CREDIT_TRANSFER_SCHEMAS,
    DIRECT_DEBIT_SCHEMAS,
    Account,
    CreditTransfer,
    DirectDebit,
    build_credit_transfer_file,
    build_direct_debit_file,
    sepa_text,
)
from gateway.errors import BankFileError, MandateError
from gateway.models import SequenceType

CREATED = datetime(2025, 3, 3, 8, 30, tzinfo=UTC)
COLLECTION = date(2025, 3, 5)
CREDITOR = Account("Payee AG", PAYEE_IBAN)


def debit(period: int, amount: int = 10_000, sequence: SequenceType = SequenceType.RECURRING, **changes: object) -> DirectDebit:
    base = DirectDebit(
        end_to_end_id=end_to_end_id(31337, AGREEMENT, period),
        amount=amount,
        mandate_reference="M-001",
        mandate_signed_on=date(2024, 5, 1),
        sequence=sequence,
        debtor=Account("Payer Müller & Söhne GmbH", PAYER_IBAN),
        creditor_reference=creditor_reference(31337, AGREEMENT, period),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def transfer(period: int, amount: int = 4_567, **changes: object) -> CreditTransfer:
    base = CreditTransfer(
        end_to_end_id=end_to_end_id(31337, AGREEMENT, period),
        amount=amount,
        creditor=CREDITOR,
        creditor_reference=creditor_reference(31337, AGREEMENT, period),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def dd_file(debits: list[DirectDebit], schema: str = "pain.008.001.08", scheme: str = "CORE", creditor: Account = CREDITOR):  # type: ignore[no-untyped-def]
    return build_direct_debit_file(
        creditor=creditor,
        creditor_id=CREDITOR_ID,
        scheme=scheme,
        collection_date=COLLECTION,
        debits=debits,
        schema=schema,
        created_at=CREATED,
    )


def paths(root: etree._Element) -> set[str]:
    """Every element path by local names, e.g. ``CstmrDrctDbtInitn/PmtInf/DrctDbtTxInf/PmtId/EndToEndId``."""
    found = set()
    for node in root.iter():
        if isinstance(node.tag, str) and node is not root:
            parts = [iso20022.local(a) for a in reversed(list(node.iterancestors())) if a is not root] + [iso20022.local(node)]
            found.add("/".join(parts))
    return found


@pytest.mark.parametrize("schema", DIRECT_DEBIT_SCHEMAS)
@pytest.mark.parametrize("scheme", ["CORE", "B2B"])
def test_direct_debit_file_is_valid_and_structured(schema: str, scheme: str) -> None:
    debits = [debit(0, 10_000, SequenceType.FIRST), debit(1, 12_000), debit(2, 1)]
    built = dd_file(debits, schema, scheme)
    assert iso20022.validation_errors(built.content, schema) == []
    root = iso20022.parse_xml(built.content)
    assert iso20022.namespace_of(root) == f"urn:iso:std:iso:20022:tech:xsd:{schema}"
    body = root[0]
    assert iso20022.text(body, "GrpHdr/MsgId") == built.message_id
    assert iso20022.text(body, "GrpHdr/CreDtTm") == "2025-03-03T08:30:00+00:00"
    assert iso20022.text(body, "GrpHdr/NbOfTxs") == "3" and iso20022.text(body, "GrpHdr/CtrlSum") == "220.01"
    blocks = iso20022.findall(body, "PmtInf")
    assert [iso20022.text(b, "PmtTpInf/SeqTp") for b in blocks] == ["FRST", "RCUR"]
    assert [iso20022.text(b, "PmtInfId") for b in blocks] == [f"{built.message_id}-1", f"{built.message_id}-2"]
    assert [iso20022.text(b, "CtrlSum") for b in blocks] == ["100.00", "120.01"]
    assert {iso20022.text(b, "PmtTpInf/LclInstrm/Cd") for b in blocks} == {scheme}
    assert {iso20022.text(b, "ReqdColltnDt") for b in blocks} == {"2025-03-05"}
    txs = iso20022.findall(body, "PmtInf/DrctDbtTxInf")
    assert [iso20022.text(t, "PmtId/EndToEndId") for t in txs] == [d.end_to_end_id for d in debits]
    assert [iso20022.text(t, "RmtInf/Strd/CdtrRefInf/Ref") for t in txs] == [d.creditor_reference for d in debits]
    assert all(iso20022.text(t, "RmtInf/Strd/CdtrRefInf/Tp/CdOrPrtry/Cd") == "SCOR" for t in txs)
    assert iso20022.findall(body, "PmtInf/DrctDbtTxInf/RmtInf/Ustrd") == []
    assert iso20022.text(txs[0], "Dbtr/Nm") == "Payer Mueller + Soehne GmbH"
    assert [Decimal(iso20022.text(t, "InstdAmt")) for t in txs] == [Decimal("100.00"), Decimal("120.00"), Decimal("0.01")]
    assert built.payment_info_ids[debits[0].end_to_end_id] == f"{built.message_id}-1"
    assert (built.tx_count, built.control_sum, built.kind) == (3, 22_001, "pain.008")


@pytest.mark.parametrize("schema", CREDIT_TRANSFER_SCHEMAS)
def test_credit_transfer_file_is_valid_and_structured(schema: str) -> None:
    transfers = [transfer(2), transfer(3, 4_200, creditor=Account("Other Payee", "FR1420041010050500013M02606"))]
    built = build_credit_transfer_file(
        debtor=Account("Payer GmbH", PAYER_IBAN), execution_date=COLLECTION, transfers=transfers, schema=schema, created_at=CREATED
    )
    assert iso20022.validation_errors(built.content, schema) == []
    body = iso20022.parse_xml(built.content)[0]
    txs = iso20022.findall(body, "PmtInf/CdtTrfTxInf")
    assert [iso20022.text(t, "RmtInf/Strd/CdtrRefInf/Ref") for t in txs] == [t.creditor_reference for t in transfers]
    assert [iso20022.text(t, "CdtrAcct/Id/IBAN") for t in txs] == [PAYEE_IBAN, "FR1420041010050500013M02606"]
    date_path = "PmtInf/ReqdExctnDt" if schema.endswith("03") else "PmtInf/ReqdExctnDt/Dt"
    assert iso20022.text(body, date_path) == "2025-03-05"
    assert (built.kind, built.control_sum, built.tx_count) == ("pain.001", 8_767, 2)


def test_files_are_deterministic() -> None:
    first = dd_file([debit(0), debit(1)])
    second = dd_file([debit(0), debit(1)])
    assert first.content == second.content and first.sha256 == second.sha256
    assert first.message_id == dd_file([debit(1), debit(0)]).message_id  # same transactions, same id
    assert first.message_id != dd_file([debit(0)]).message_id
    assert len(first.message_id) <= 35 and first.file_name == f"{first.message_id}.pain.008.001.08.xml"


LONG = "N" * 141


@pytest.mark.parametrize(
    ("debits", "error", "message"),
    [
        ([debit(0, debtor=Account(LONG, PAYER_IBAN))], BankFileError, "debtor name: 'NNNNNNNNNNNNNNNNNNNNNNNN'… is 141 characters; SEPA"),
        (
            [debit(0, debtor=Account("Payer", "DE89370400440532013001"))],
            BankFileError,
            "debit 1 (STL5XUV7KD2JYQOGY31QJI-0): debtor IBAN: 'DE89370400440532013001' is not valid (Invalid checksum digits)",
        ),
        ([debit(0, mandate_reference="")], MandateError, "no mandate reference; a direct debit needs a signed SEPA mandate"),
        ([debit(0, mandate_reference="bad ref")], BankFileError, "mandate reference: 'bad ref' must be 1 to 35"),
        ([debit(0, mandate_signed_on=date(2025, 4, 1))], BankFileError, "mandate signed on 2025-04-01, after the collection date"),
        (
            [debit(0, creditor_reference="RF00X")],
            BankFileError,
            "debit 1 (STL5XUV7KD2JYQOGY31QJI-0): creditor reference: 'RF00X' has wrong check digits",
        ),
        ([debit(0, currency="USD")], BankFileError, "currency 'USD' cannot be paid by SEPA (EUR only)"),
        ([debit(0, amount=0)], BankFileError, "amount 0 must be between 1 and 99999999999 cents"),
        ([debit(0, end_to_end_id="/bad")], BankFileError, "end-to-end id '/bad' must be 1 to 35 SEPA characters"),
        ([debit(0, end_to_end_id="E" * 36)], BankFileError, "must be 1 to 35 SEPA characters"),
        ([debit(0), debit(0)], BankFileError, "appears twice in one file"),
        ([], BankFileError, "direct debit file: no debits given"),
    ],
)
def test_bad_direct_debits_are_refused(debits: list[DirectDebit], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        dd_file(debits)
    assert message in str(caught.value)


def test_bad_file_settings_are_refused() -> None:
    with pytest.raises(BankFileError, match="schema: 'pain.008.001.99' is not one of pain.008.001.02, pain.008.001.08"):
        dd_file([debit(0)], schema="pain.008.001.99")
    with pytest.raises(BankFileError, match="scheme: 'COR1' is not CORE or B2B"):
        dd_file([debit(0)], scheme="COR1")
    with pytest.raises(BankFileError, match="creditor name: .* is 141 characters"):
        dd_file([debit(0)], creditor=Account(LONG, PAYEE_IBAN))
    # pain.008.001.02 needs the creditor's BIC; schwifty cannot derive it for every bank code.
    with pytest.raises(BankFileError, match="creditor BIC: no BIC given and none can be derived from the IBAN"):
        dd_file([debit(0)], schema="pain.008.001.02", creditor=Account("Payee", "AT611904300234573201"))
    assert dd_file([debit(0)], schema="pain.008.001.02", creditor=Account("Payee", "AT611904300234573201", "BKAUATWW")).tx_count == 1
    with pytest.raises(BankFileError, match="transfer 1 .*: creditor name: .* is 141 characters"):
        build_credit_transfer_file(debtor=CREDITOR, execution_date=COLLECTION, transfers=[transfer(2, creditor=Account(LONG, PAYER_IBAN))])
    with pytest.raises(BankFileError, match="schema: 'pain.001.001.10' is not one of"):
        build_credit_transfer_file(debtor=CREDITOR, execution_date=COLLECTION, transfers=[transfer(2)], schema="pain.001.001.10")


def test_sepa_text_transliterates() -> None:
    assert sepa_text("Łódź Straße 5 & Co. – “Ärger” #1", "name") == "Lodz Strasse 5 + Co. - 'Aerger' .1"
    assert sepa_text("  a   b ", "name") == "a b"
    with pytest.raises(BankFileError, match="name: must not be empty"):
        sepa_text(" ", "name")


def test_an_invalid_document_never_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    """If post-processing produced something the XSD rejects, building fails instead of returning a file."""
    import gateway.banking.sepa as sepa_module

    original = sepa_module.etree.SubElement

    def broken(parent, tag, *args, **kwargs):  # type: ignore[no-untyped-def]
        return original(parent, tag.replace("Issr", "Issuer"), *args, **kwargs)

    monkeypatch.setattr(sepa_module.etree, "SubElement", broken)
    with pytest.raises(BankFileError, match="breaks the pain.008.001.08 schema: line"):
        dd_file([debit(0)])


# -- against the public samples (when the conformance corpus is on this machine) ----------------------------------------

OPTIONAL_IN_SAMPLES = (
    "PstlAdr",
    "UETR",
    "Ccy",
    "RmtInf",
    "Issr",
    "Ustrd",
    "AmdmntInd",
    "AmdmntInfDtls",
    "InstrId",
    "UltmtDbtr",
    "UltmtCdtr",
)


@needs_corpus
@pytest.mark.parametrize(
    ("sample", "schema"),
    [("phpsepaxml_pain.008.001.08.xml", "pain.008.001.08"), ("phpsepaxml_pain.001.001.09.xml", "pain.001.001.09"),
     ("sepaking_pain.008.001.02.xml", "pain.008.001.02"), ("sepaking_pain.001.001.03.xml", "pain.001.001.03")],
)  # fmt: skip
def test_structure_matches_public_samples(sample: str, schema: str) -> None:
    sample_root = iso20022.parse_xml((CONFORMANCE / "pain" / sample).read_bytes())
    assert iso20022.validation_errors(sample_root, schema) == []  # the vendored XSD accepts the sample
    if schema.startswith("pain.008"):
        built = dd_file([debit(0, sequence=SequenceType.FIRST)], schema)
    else:
        built = build_credit_transfer_file(
            debtor=Account("Payer", PAYER_IBAN), execution_date=COLLECTION, transfers=[transfer(2)], schema=schema
        )
    ours = paths(iso20022.parse_xml(built.content))
    theirs = paths(sample_root)
    core = {p for p in theirs if not any(part in OPTIONAL_IN_SAMPLES for part in p.split("/"))}
    # Everything the sample carries (but optional extras) is in our file too; what we add is allowed by the XSD.
    missing = {p for p in core - ours if "Othr" not in p and "BtchBookg" not in p and "InitgPty/Id" not in p}
    assert missing == set()
    assert any(p.endswith("RmtInf/Strd/CdtrRefInf/Ref") for p in ours)


@needs_corpus
def test_vendored_schemas_accept_the_public_iso_samples() -> None:
    checked = 0
    for path in sorted((CONFORMANCE / "pain").glob("*.xml")):
        root = iso20022.parse_xml(path.read_bytes())
        name = iso20022.message_name(root)
        if name in (*DIRECT_DEBIT_SCHEMAS, *CREDIT_TRANSFER_SCHEMAS):
            assert iso20022.validation_errors(root, name) == [], path.name
            checked += 1
    assert checked >= 8


def test_vendored_xsds_are_attributed() -> None:
    xsd_dir = Path(iso20022.XSD_DIR)
    readme = (xsd_dir / "README.md").read_text()
    for xsd in xsd_dir.glob("*.xsd"):
        assert xsd.name in readme
    assert "MIT" in readme and "ISO 20022" in readme
