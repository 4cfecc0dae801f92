"""The engine and the advice reader together: a collective transfer without any reference that several subsets of
the payer's open items fit goes to review; with the payer's remittance advice (a PDF, read by the advice reader) in
the --remittance folder, the same line is split automatically across the invoices the advice names."""

from __future__ import annotations

import json
from pathlib import Path

from test_rec_evaluate import HEADER, run
from test_rec_remittance import GERMAN_COLUMNS

from gateway.reconciliation.advice_pdf import rows_pdf

ITEMS = f"""{HEADER}
A,Initrode Ltd,IE29AIBK93115212345678,100.00,EUR,2026-11-01,RE-2026-000011,,,
B,Initrode Ltd,IE29AIBK93115212345678,200.00,EUR,2026-11-02,RE-2026-000012,,,
C,Initrode Ltd,IE29AIBK93115212345678,300.00,EUR,2026-11-03,RE-2026-000013,,,
D,Initrode Ltd,IE29AIBK93115212345678,100.00,EUR,2026-11-04,RE-2026-000014,,,
"""

CAMT = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-11-20T18:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id><CreDtTm>2026-11-20T18:00:00</CreDtTm><Acct><Id><IBAN>DE02100500000054540402</IBAN></Id></Acct>
<Ntry><Amt Ccy="EUR">300.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-20</Dt></BookgDt>
<ValDt><Dt>2026-11-20</Dt></ValDt><AcctSvcrRef>E1</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><AcctSvcrRef>T-COLLECTIVE</AcctSvcrRef><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
<RltdPties><Dbtr><Nm>INITRODE LTD</Nm></Dbtr><DbtrAcct><Id><IBAN>IE29AIBK93115212345678</IBAN></Id></DbtrAcct></RltdPties>
<RmtInf><Ustrd>Payment</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
</Stmt></BkToCstmrStmt></Document>
"""

ADVICE = [
    "Initrode Ltd",
    "1 Dame Street, Dublin",
    "",
    "Zahlungsavis",
    "Datum: 20.11.2026",
    "",
    list(zip(GERMAN_COLUMNS, ("Rechnungsnr.", "Datum", "Betrag", "Skonto", "Zahlbetrag"), strict=True)),
    list(zip(GERMAN_COLUMNS, ("RE-2026-000011", "01.11.2026", "100,00", "0,00", "100,00"), strict=True)),
    list(zip(GERMAN_COLUMNS, ("RE-2026-000012", "02.11.2026", "200,00", "0,00", "200,00"), strict=True)),
    "",
    [(0.0, "Gesamtbetrag der Überweisung:"), (410.0, "300,00 EUR")],
]


def _decide(tmp_path: Path, *remittance: str) -> dict:  # type: ignore[type-arg]
    code, out, err = run("evaluate", "--open-items", str(tmp_path / "items.csv"), *remittance, str(tmp_path / "statement.xml"), "--json")
    assert code == 0, err
    [line] = json.loads(out)["lines"]
    return line


def test_an_advice_splits_a_collective_transfer_that_is_ambiguous_without_it(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text(ITEMS)
    (tmp_path / "statement.xml").write_text(CAMT)
    alone = _decide(tmp_path)
    assert alone["decision"] == "review"  # C alone, A+B and B+D all make 300.00: never auto
    advices = tmp_path / "advices"
    advices.mkdir()
    (advices / "initrode-2026-11-20.pdf").write_bytes(rows_pdf(ADVICE))
    split = _decide(tmp_path, "--remittance", str(advices))
    assert split["decision"] == "auto", split
    assert sorted((a["item_id"], a["amount"]) for a in split["allocations"]) == [("A", "100.00"), ("B", "200.00")]
    assert any("advice" in e.lower() for e in split["evidence"]), split["evidence"]
