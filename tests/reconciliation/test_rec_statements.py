"""read_statement: camt.052/053/054, MT940 and pain.002 into BankLines — own fixtures, the public conformance corpus
(when ../shared is present) with its goldens, and bad input."""

from __future__ import annotations

import ast
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.errors import StatementError
from gateway.reconciliation.model import BankLine, RemittanceRef
from gateway.reconciliation.statements import detect_format, read_statement, unique_references

FIXTURES = Path(__file__).parent / "fixtures"
CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
if not CONFORMANCE.is_dir():
    CONFORMANCE = Path("/work/shared/conformance")


def read(name: str) -> list[BankLine]:
    return read_statement((FIXTURES / name).read_bytes(), name)


def by_reference(lines: list[BankLine]) -> dict[str, BankLine]:
    return {line.bank_reference: line for line in lines}


# -- own fixtures --------------------------------------------------------------------------------------------------------


def test_camt053_collective_booking_gives_one_line_per_transaction_with_structured_remittance() -> None:
    lines = by_reference(read("settle_camt053_v08.xml"))
    assert set(lines) == {"BANK-T-1", "BANK-T-2", "BANK-R-1", "BANK-DUP/1", "BANK-DUP/2"}  # PDNG entry left out
    acme, globex = lines["BANK-T-1"], lines["BANK-T-2"]
    assert (acme.amount, acme.currency, acme.direction, acme.kind) == (119000, "EUR", "credit", "payment")
    assert acme.account_iban == "DE89370400440532013000"
    assert acme.entry_reference == globex.entry_reference == "BANK-E-1"
    assert acme.structured == (RemittanceRef("RE-2026-000001", 119000, "invoice"),)
    assert (acme.end_to_end_id, acme.counterparty_name, acme.counterparty_iban) == (
        "E2E-ACME-1",
        "ACME Handels GmbH",
        "DE02120300000000202051",
    )
    assert acme.booking_date == acme.value_date == date(2026, 3, 2)
    assert globex.end_to_end_id is None  # NOTPROVIDED
    assert globex.creditor_reference == "RF18539007547034"
    assert globex.structured == (RemittanceRef("RF18539007547034", None, "creditor_reference"),)
    assert globex.remittance_text == "Rechnung RE-2026-000002"
    assert acme.amount + globex.amount == 178500
    assert all(line.source == "settle_camt053_v08.xml" for line in lines.values())


def test_camt053_return_with_reason_charges_and_the_original_debtor() -> None:
    line = by_reference(read("settle_camt053_v08.xml"))["BANK-R-1"]
    assert (line.kind, line.reason_code, line.direction) == ("return", "AM04", "debit")
    assert (line.amount, line.charges) == (5300, 300)
    assert (line.end_to_end_id, line.mandate_reference) == ("SETTLE-DD-42", "MANDATE-7")
    assert (line.counterparty_name, line.counterparty_iban) == ("Initech AG", "DE75512108001245126199")


def test_camt053_fee_other_and_a_repeated_bank_reference_made_unique() -> None:
    lines = by_reference(read("settle_camt053_v08.xml"))
    fee, interest = lines["BANK-DUP/1"], lines["BANK-DUP/2"]
    assert (fee.kind, fee.amount, fee.direction, fee.remittance_text) == ("fee", 490, "debit", "Kontofuehrung Maerz")
    assert (interest.kind, interest.amount, interest.direction) == ("other", 35, "credit")


def test_camt054_details_without_amounts_stay_one_line_and_minor_units_follow_the_currency() -> None:
    lump, yen = read("settle_camt054_v02.xml")
    assert (lump.bank_reference, lump.amount, lump.kind) == ("LUMP-1", 30000, "payment")
    assert lump.end_to_end_id is None  # two different ids: neither is the line's
    assert lump.remittance_text == "RE-2026-000010 RE-2026-000011"
    assert (lump.counterparty_name, lump.bank_tx_code) == ("Umbrella Corp", "NTRF+166")
    assert (yen.amount, yen.currency, yen.end_to_end_id, yen.bank_reference) == (1200, "JPY", "E2E-JPY", "N-JPY")


def test_camt052_reads_booked_entries_only() -> None:
    (line,) = read("settle_camt052_v04.xml")
    assert (line.bank_reference, line.amount, line.creditor_reference) == ("INTRA-1", 25000, "RF47SETTLE0001")


def test_mt940_latin1_crlf_german_details() -> None:
    payment, returned, fee = read("settle_mt940_latin1.sta")
    assert payment.bank_reference == "BANKREF0001"
    assert payment.account_iban == "DE89370400440532013000"  # from BLZ/account
    assert (payment.amount, payment.direction, payment.kind) == (119000, "credit", "payment")
    assert payment.end_to_end_id == "E2E-MUELLER-1"
    assert payment.remittance_text == "Rechnung RE-2026-000003 Dank und Grüße"
    assert payment.counterparty_name == "Müller & Söhne Maschinenbau KG"
    assert payment.counterparty_iban == "DE02120300000000202051"
    assert payment.bank_tx_code == "NTRF+166"
    assert (returned.kind, returned.reason_code, returned.amount, returned.charges) == ("return", "AM04", 1235, 50)
    assert (returned.end_to_end_id, returned.mandate_reference) == ("SETTLE-DD-42", "MANDATE-7")
    assert returned.bank_reference == "BANKREF0002/1" and fee.bank_reference == "BANKREF0002/2"
    assert (fee.kind, fee.amount, fee.direction) == ("fee", 490, "debit")


def test_pain002_rejections_only() -> None:
    rejected, block = read("settle_pain002.xml")
    assert (rejected.kind, rejected.reason_code, rejected.end_to_end_id) == ("rejection", "MD01", "SETTLE-DD-43")
    assert (rejected.amount, rejected.currency, rejected.direction) == (11900, "EUR", "credit")
    assert (rejected.mandate_reference, rejected.counterparty_name, rejected.entry_reference) == ("MANDATE-8", "Hooli Inc", "PMT-1")
    assert rejected.bank_reference == "STS-2026-0009/SETTLE-DD-43"
    assert (block.kind, block.reason_code, block.end_to_end_id, block.entry_reference) == ("rejection", "AM05", None, "PMT-2")
    assert (block.amount, block.currency) == (0, "XXX")


def test_detect_format() -> None:
    assert [detect_format((FIXTURES / n).read_bytes()) for n in sorted(p.name for p in FIXTURES.iterdir())] == [
        "camt.052",
        "camt.053",
        "camt.054",
        "mt940",
        "pain.002",
    ]


def test_unique_references_prefers_end_to_end_ids() -> None:
    line = BankLine("R", None, 1, "EUR", "credit")
    lines = unique_references([line, BankLine("R", None, 2, "EUR", "credit", end_to_end_id="X"), line])
    assert [x.bank_reference for x in lines] == ["R/1", "R/2", "R/3"]
    lines = unique_references([BankLine("R", None, 1, "EUR", "credit", end_to_end_id=e) for e in ("A", "B")])
    assert [x.bank_reference for x in lines] == ["R/A", "R/B"]


# -- bad input -----------------------------------------------------------------------------------------------------------

CAMT = (FIXTURES / "settle_camt053_v08.xml").read_bytes()
BAD = {
    "wrong-namespace.xml": (CAMT.replace(b"camt.053.001.08", b"pain.001.001.03"), "wrong namespace"),
    "wrong-version.xml": (CAMT.replace(b"camt.053.001.08", b"camt.054.001.08"), "wrong namespace"),
    "foreign-namespace.xml": (
        CAMT.replace(b"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08", b"http://example.com/stmt"),
        "wrong namespace",
    ),
    "laughs.xml": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b"<Document><BkToCstmrStmt>&lol2;</BkToCstmrStmt></Document>",
        "DTD or entities",
    ),
    "xxe.xml": (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document><BkToCstmrStmt>&x;'
        b"</BkToCstmrStmt></Document>",
        "DTD or entities",
    ),
    "empty.xml": (b"", "empty"),
    "blank.sta": (b" \r\n\r\n", "empty"),
    "cut.xml": (CAMT[: len(CAMT) // 2], "not well-formed"),
    "invoice.xml": (
        b'<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>',
        "not a bank statement",
    ),
    "notes.txt": (b"Dear finance team, please find attached", "not a bank statement"),
    "truncated.sta": ((FIXTURES / "settle_mt940_latin1.sta").read_bytes().split(b":62F:")[0], "truncated"),
    "damaged.sta": ((FIXTURES / "settle_mt940_latin1.sta").read_bytes().replace(b":86:808", b":25:808"), "after its bookings"),
    "bad-amount.xml": (CAMT.replace(b'"EUR">4.90<', b'"EUR">4.905<'), "decimal"),
    "bad-indicator.xml": (
        CAMT.replace(b"<CdtDbtInd>DBIT</CdtDbtInd>\n        <Sts>", b"<CdtDbtInd>DEBT</CdtDbtInd>\n        <Sts>", 1),
        "CRDT or DBIT",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_a_clear_statement_error_naming_the_file(name: str) -> None:
    data, problem = BAD[name]
    with pytest.raises(StatementError) as caught:
        read_statement(data, name)
    message = str(caught.value)
    assert message.startswith(f"{name}: "), message
    assert problem in message, message


def test_not_bytes_is_refused() -> None:
    with pytest.raises(StatementError, match="expected the file's bytes"):
        read_statement("text", "x.xml")  # type: ignore[arg-type]


# -- public conformance corpus ---------------------------------------------------------------------------------------------

#: Corpus files that must be refused, with the reason in the message.
REFUSED = {
    "camt053/genkgo_camt053.v2.wrong.xml": "no <Stmt> block",
    "mt940/wolph_betterplace_sepa_snippet_broken.sta": "after its bookings",
    "mt940/jejik_K4262927_20200905-080000-952.sta": "truncated",  # :60F: without :62F:, :65F: 'Dnullnull'
    "mt940/wolph_self-provided_gv_codes.sta": "truncated",  # :60F: without :62F:
    "mt940/wolph_self-provided_sparkassen.sta": "not an ISO 4217 code",  # fragment without balance or currency
}
KINDS = ("camt052", "camt053", "camt054", "mt940", "pain002")


def corpus(kind: str) -> list[str]:
    folder = CONFORMANCE / kind
    return sorted(f"{kind}/{p.name}" for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


@pytest.mark.parametrize("kind", KINDS)
def test_every_corpus_file_parses_or_is_refused_clearly(kind: str) -> None:
    files = corpus(kind)
    if not files:
        pytest.skip(f"{CONFORMANCE / kind} is not present")
    parsed = 0
    for path in files:
        data = (CONFORMANCE / path).read_bytes()
        name = Path(path).name
        if path in REFUSED:
            with pytest.raises(StatementError, match=REFUSED[path]):
                read_statement(data, name)
            continue
        lines = read_statement(data, name)
        parsed += 1
        references = [line.bank_reference for line in lines]
        assert len(set(references)) == len(references), path
        for line in lines:
            assert line.amount >= 0 and line.direction in ("credit", "debit") and line.source == name, (path, line)
            assert len(line.currency) == 3 and line.currency.isupper(), (path, line)
            if line.kind == "rejection":
                assert kind == "pain002" and line.reason_code, (path, line)
    assert parsed >= len(files) - sum(p.startswith(kind) for p in REFUSED)


def _lines(path: str) -> list[BankLine]:
    if not (CONFORMANCE / path).is_file():
        pytest.skip(f"{CONFORMANCE / path} is not present")
    return read_statement((CONFORMANCE / path).read_bytes(), Path(path).name)


def test_corpus_returns_and_rejections() -> None:
    returned = [line for line in _lines("camt053/oca_test-camt053.001.02_batch_rddt_AC06.xml") if line.kind == "return"]
    assert sorted(line.amount for line in returned) == [10000, 56405]
    assert {line.reason_code for line in returned} == {"AC06"}
    (ms03,) = _lines("camt052/hbci4java_camt052.001.02_ruecklastschrift_MS03.xml")
    assert (ms03.kind, ms03.reason_code, ms03.amount, ms03.charges, ms03.mandate_reference) == ("return", "MS03", 5300, 300, "TEST1234")
    (commerz,) = _lines("mt940/jejik_commerzbank.sta")
    assert (commerz.kind, commerz.amount, commerz.charges, commerz.bank_reference) == ("return", 1235, 50, "2016021783252833")
    assert commerz.end_to_end_id == "A1.200080779.400143254.4961336"
    (rejected,) = _lines("pain002/postfinance_pain002-epo_p_ch2909000000250094239_1109800799_0_2018032612092784.xml")
    assert (rejected.kind, rejected.reason_code, rejected.end_to_end_id) == ("rejection", "AC01", "EndToEndId-006-01-01")
    assert _lines("pain002/hbci4java_pain.002.001.10_VoP_RVNM.xml") == []  # verification of payee: no rejection
    esr = _lines("camt054/postfinance_200519_camt054-ESR-ASR_P_CH2909000000250094239_1110092704_0_2019042500372179.xml")
    assert len(esr) >= 5 and all(line.creditor_reference for line in esr[:5])


def _get(value: object, key: str) -> dict:  # type: ignore[type-arg]
    """A member of a genkgo JSON object ({} for a missing one or a '__RECURSIVITY__' back-reference)."""
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, dict) else {}


def _signed(line: BankLine) -> int:
    return line.signed_amount


GENKGO = sorted(
    f"{kind}/expected/{p.name}"
    for kind in ("camt053", "camt054")
    if (CONFORMANCE / kind / "expected").is_dir()
    for p in (CONFORMANCE / kind / "expected").glob("genkgo_*.json")
)


@pytest.mark.parametrize("golden", GENKGO or ["(corpus absent)"])
def test_genkgo_goldens(golden: str) -> None:
    if golden == "(corpus absent)":
        pytest.skip("conformance corpus not present")
    kind, _, file = golden.split("/")
    lines = _lines(f"{kind}/{file.removesuffix('.json')}.xml")
    expected = json.loads((CONFORMANCE / golden).read_text())
    entries = [e for e in expected["getEntries"] if e.get("getStatus") in (None, "BOOK")]
    if len(expected.get("getRecords") or []) > 1:
        # genkgo's message-level getEntries holds the last record's entries only
        assert {int(e["getAmount"]["getAmount"]) for e in entries} <= {_signed(line) for line in lines}
    else:
        assert sum(int(e["getAmount"]["getAmount"]) for e in entries) == sum(_signed(line) for line in lines)
    assert {e["getAmount"]["getCurrency"]["getCode"] for e in entries} == {line.currency for line in lines}
    ours = {line.entry_reference for line in lines} | {line.bank_reference.split("/")[0] for line in lines}
    for entry in entries:
        if entry.get("getAccountServicerReference"):
            assert entry["getAccountServicerReference"] in ours
        details = [d for d in entry.get("getTransactionDetails") or [] if isinstance(d, dict)]
        for detail in details:
            e2e = _get(detail, "getReference").get("getEndToEndId")
            if e2e and e2e.upper() not in ("NOTPROVIDED", "NONREF"):
                assert e2e in {line.end_to_end_id for line in lines} or len(details) > 1
            information = _get(detail, "getRemittanceInformation")
            for reference in (
                _get(information, "getCreditorReferenceInformation"),
                _get(_get(information, "getStructuredBlock"), "getCreditorReferenceInformation"),
            ):
                if not reference.get("getRef"):
                    continue
                assert "".join(reference["getRef"].split()).upper() in {r.reference for line in lines for r in line.structured}, golden
    if entries and entries[0].get("getBookingDate"):
        assert date.fromisoformat(entries[0]["getBookingDate"]["0"][:10]) in {line.booking_date for line in lines}


OCA = {
    "camt053/expected/oca_golden-camt053.pydata": "camt053/oca_test-camt053.001.02_batch_rddt_AC06.xml",
    "camt053/expected/oca_golden-camt053-txdtls.pydata": "camt053/oca_test-camt053.001.04_txdtls_qrr.xml",
    "camt054/expected/oca_golden-camt054.pydata": "camt054/oca_test-camt054.001.04.xml",
}


@pytest.mark.parametrize("golden", sorted(OCA))
def test_oca_goldens(golden: str) -> None:
    if not (CONFORMANCE / golden).is_file():
        pytest.skip(f"{CONFORMANCE / golden} is not present")
    lines = _lines(OCA[golden])
    currency, account, statements = ast.literal_eval((CONFORMANCE / golden).read_text())
    transactions = [t for statement in statements for t in statement["transactions"]]
    assert sorted(int(Decimal(str(t["amount"])) * 100) for t in transactions) == sorted(_signed(line) for line in lines)
    assert {line.currency for line in lines} == {currency}
    assert {line.account_iban for line in lines} == {account}
    assert {t["account_number"] for t in transactions if t.get("account_number")} <= {line.counterparty_iban for line in lines}
    for t in transactions:
        if t.get("ref"):
            assert t["ref"] in {line.creditor_reference for line in lines} | {line.end_to_end_id for line in lines}
