"""``settle reconcile evaluate`` end to end on small files written here, and the open-items CSV's errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gateway.reconciliation.cli import reconcile_app
from gateway.reconciliation.evaluate import OpenItemsError, read_open_items
from gateway.reconciliation.synthetic import camt053, generate, items_csv
from settle_cli.app import COMMANDS, load

HEADER = "item_id,payer_name,payer_iban,amount,currency,due_date,invoice_number,creditor_reference,end_to_end_id,mandate_reference"
ITEMS = f"""{HEADER}
S-1,Acme Maschinenbau GmbH,DE02120300000000202051,1190.00,EUR,2026-11-01,RE-2026-000001,,STLAAAAAAAAAAAAAAAAAAA-1,M-1
S-2,Acme Maschinenbau GmbH,DE02120300000000202051,250.50,EUR,2026-11-05,RE-2026-000002,,,
S-3,Acme Maschinenbau GmbH,DE02120300000000202051,99.90,EUR,2026-11-09,RE-2026-000003,,,
S-4,"Globex, Inc.",FR7630006000011234567890189,500.00,EUR,,RE-2026-000004,,,
"""

CAMT = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-11-10T18:00:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id><CreDtTm>2026-11-10T18:00:00</CreDtTm><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>
<Ntry><Amt Ccy="EUR">1190.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-10</Dt></BookgDt>
<ValDt><Dt>2026-11-10</Dt></ValDt><AcctSvcrRef>E1</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><AcctSvcrRef>T-E2E</AcctSvcrRef><EndToEndId>STLAAAAAAAAAAAAAAAAAAA-1</EndToEndId></Refs>
<RltdPties><Dbtr><Nm>ACME MASCHINENBAU GMBH</Nm></Dbtr><DbtrAcct><Id><IBAN>DE02120300000000202051</IBAN></Id></DbtrAcct></RltdPties>
</TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="EUR">350.40</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-10</Dt></BookgDt>
<ValDt><Dt>2026-11-10</Dt></ValDt><AcctSvcrRef>E2</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><AcctSvcrRef>T-COLLECTIVE</AcctSvcrRef><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
<RltdPties><Dbtr><Nm>Acme Maschinenbau</Nm></Dbtr><DbtrAcct><Id><IBAN>DE02120300000000202051</IBAN></Id></DbtrAcct></RltdPties>
<RmtInf><Ustrd>Sammelueberweisung</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="EUR">600.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-10</Dt></BookgDt>
<ValDt><Dt>2026-11-10</Dt></ValDt><AcctSvcrRef>E3</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><AcctSvcrRef>T-OVER</AcctSvcrRef></Refs>
<RltdPties><Dbtr><Nm>Globex Inc</Nm></Dbtr><DbtrAcct><Id><IBAN>GB29NWBK60161331926819</IBAN></Id></DbtrAcct></RltdPties>
<RmtInf><Ustrd>Invoice RE 2O26 OOOOO4</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="EUR">1190.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-10</Dt></BookgDt>
<ValDt><Dt>2026-11-10</Dt></ValDt><AcctSvcrRef>E4</AcctSvcrRef>
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>IDDT</Cd><SubFmlyCd>UPDD</SubFmlyCd></Fmly></Domn></BkTxCd>
<NtryDtls><TxDtls><Refs><AcctSvcrRef>T-RETURN</AcctSvcrRef><EndToEndId>STLAAAAAAAAAAAAAAAAAAA-1</EndToEndId><MndtId>M-1</MndtId></Refs>
<RtrInf><Rsn><Cd>AM04</Cd></Rsn></RtrInf></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="EUR">42.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>2026-11-10</Dt></BookgDt>
<ValDt><Dt>2026-11-10</Dt></ValDt><AcctSvcrRef>E5</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><AcctSvcrRef>T-STRANGER</AcctSvcrRef></Refs>
<RltdPties><Dbtr><Nm>Finanzamt Köln</Nm></Dbtr></RltdPties><RmtInf><Ustrd>Erstattung</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
</Stmt></BkToCstmrStmt></Document>
"""

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str, str]:
    """``settle reconcile ARGS`` in process: the group mounted under its name, as the command table does."""
    holder = typer.Typer(add_completion=False)
    holder.add_typer(reconcile_app, name="reconcile")
    result = runner.invoke(holder, ["reconcile", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_the_command_table_lists_reconcile_with_the_group_s_help() -> None:
    (entry,) = [e for e in COMMANDS if e.name == "reconcile"]
    assert load(entry).name == "reconcile" and entry.summary == reconcile_app.info.help


def test_evaluate_prints_one_decision_per_transaction_as_the_issue_specifies(tmp_path: Path) -> None:
    """Through the real ``settle`` entry point."""
    (tmp_path / "items.csv").write_text(ITEMS)
    (tmp_path / "statement.xml").write_text(CAMT)
    args = ["reconcile", "evaluate", "--open-items", str(tmp_path / "items.csv"), str(tmp_path / "statement.xml"), "--json"]
    done = subprocess.run([sys.executable, "-m", "settle", *args], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = {line["bank_reference"]: line for line in json.loads(done.stdout)["lines"]}
    assert list(lines) == ["T-E2E", "T-COLLECTIVE", "T-OVER", "T-RETURN", "T-STRANGER"]
    for line in lines.values():
        assert set(line) == {
            "bank_reference",
            "amount",
            "direction",
            "kind",
            "reason_code",
            "decision",
            "allocations",
            "evidence",
            "confidence",
        }
        assert isinstance(line["evidence"], list) and 0 <= line["confidence"] <= 1
    assert (lines["T-E2E"]["decision"], lines["T-E2E"]["allocations"]) == ("auto", [{"item_id": "S-1", "amount": "1190.00"}])
    collective = lines["T-COLLECTIVE"]
    assert collective["decision"] == "auto" and collective["amount"] == "350.40" and collective["direction"] == "credit"
    assert sorted(collective["allocations"], key=lambda a: a["item_id"]) == [
        {"item_id": "S-2", "amount": "250.50"},
        {"item_id": "S-3", "amount": "99.90"},
    ]
    over = lines["T-OVER"]
    assert (over["decision"], over["allocations"]) == ("auto", [{"item_id": "S-4", "amount": "500.00"}])
    assert any("unallocated" in e for e in over["evidence"])
    returned = lines["T-RETURN"]
    assert (returned["kind"], returned["reason_code"], returned["direction"]) == ("return", "AM04", "debit")
    assert (returned["decision"], returned["allocations"]) == ("auto", [{"item_id": "S-1", "amount": "1190.00"}])
    assert (lines["T-STRANGER"]["decision"], lines["T-STRANGER"]["allocations"]) == ("none", [])


def test_evaluate_reads_several_files_and_keeps_a_booking_seen_twice_once(tmp_path: Path) -> None:
    corpus = generate(seed=11, lines=120)
    (tmp_path / "items.csv").write_text(items_csv(corpus.items))
    (tmp_path / "a.xml").write_bytes(camt053(corpus.lines[:80]))
    (tmp_path / "b.xml").write_bytes(camt053(corpus.lines[60:]))
    code, out, err = run(
        "evaluate", "--open-items", str(tmp_path / "items.csv"), str(tmp_path / "a.xml"), str(tmp_path / "b.xml"), "--json"
    )
    assert code == 0, err
    result = json.loads(out)["lines"]
    assert [line["bank_reference"] for line in result] == [line.bank_reference for line in corpus.lines]
    for line in result:
        if line["decision"] == "auto":
            expected = corpus.truth[line["bank_reference"]].allocations
            assert sorted((a["item_id"], a["amount"]) for a in line["allocations"]) == sorted(
                (a.item_id, f"{a.amount // 100}.{a.amount % 100:02d}") for a in expected
            )
    code, out, _ = run("evaluate", "--open-items", str(tmp_path / "items.csv"), str(tmp_path / "a.xml"))
    assert code == 0 and out.startswith("80 transactions against")


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        ("", "empty"),
        ("item_id,amount,currency,payer_nme\nA,1.00,EUR,x\n", "'payer_nme' (did you mean 'payer_name'?)"),
        ("item_id,payer_name\nA,x\n", "lacks amount, currency"),
        ("item_id,amount,currency\nA,12.345,EUR\n", "line 2: amount"),
        ("item_id,amount,currency\nA,12,50,EUR\n", "line 2: 4 cells"),
        ("item_id,amount,currency\nA,-5.00,EUR\n", "negative"),
        ("item_id,amount,currency\nA,abc,EUR\n", "not a number"),
        ("item_id,amount,currency\nA,1.00,Euro\n", "three-letter"),
        ("item_id,amount,currency,due_date\nA,1.00,EUR,31.12.2026\n", "due_date '31.12.2026' is not a date"),
        ("item_id,amount,currency\nA,1.00,EUR\nA,2.00,EUR\n", "line 3: item_id 'A' already on line 2"),
        ("item_id,amount,currency\n,1.00,EUR\n", "item_id is empty"),
    ],
)
def test_bad_open_items_csv_gives_a_clear_error(csv: str, message: str) -> None:
    with pytest.raises(OpenItemsError) as raised:
        read_open_items(csv.encode(), "items.csv")
    assert message in str(raised.value) and "items.csv" in str(raised.value)


def test_open_items_csv_with_semicolons_bom_and_empty_cells() -> None:
    items = read_open_items(("\ufeff" + HEADER.replace(",", ";") + "\nA;;;1234.50;eur;;;;;\n").encode())
    assert (items[0].item_id, items[0].amount, items[0].currency, items[0].payer_name, items[0].due_date) == (
        "A",
        123450,
        "EUR",
        None,
        None,
    )
    with pytest.raises(OpenItemsError, match="not UTF-8"):
        read_open_items("item_id,amount,currency\nA,1.00,EUR,Müller\n".encode("latin-1"))


def test_evaluate_errors_reach_the_user_as_one_line(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text("item_id,amount\nA,1.00\n")
    (tmp_path / "statement.xml").write_text(CAMT)
    code, _, err = run("evaluate", "--open-items", str(tmp_path / "items.csv"), str(tmp_path / "statement.xml"))
    assert code == 1 and "lacks currency" in err
    (tmp_path / "items.csv").write_text(ITEMS)
    (tmp_path / "bad.xml").write_text(CAMT.replace("camt.053.001.02", "camt.999.001.02"))
    code, _, err = run("evaluate", "--open-items", str(tmp_path / "items.csv"), str(tmp_path / "bad.xml"))
    assert code == 1 and "bad.xml" in err
    code, _, err = run("evaluate", "--open-items", str(tmp_path / "missing.csv"), str(tmp_path / "statement.xml"))
    assert code == 1 and "missing.csv" in err


def test_remittance_folder_is_read_through_the_advice_reader_or_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text(ITEMS)
    (tmp_path / "statement.xml").write_text(CAMT)
    code, _, err = run(
        "evaluate", "--open-items", str(tmp_path / "items.csv"), "--remittance", str(tmp_path / "nope"), str(tmp_path / "statement.xml")
    )
    assert code == 1 and "is not a folder" in err
