"""The watched folder (processed/ and rejected/ with a report beside each file) and the command line."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime

from oracle_helpers import DAY, setup_mappings, snapshot
from typer.testing import CliRunner

from oracle.cli import app
from oracle.watcher import FolderWatcher

CSV = "record_id,agreement,meter,quantity,unit,occurred_at\n"


def _old(path):  # type: ignore[no-untyped-def]
    past = time.time() - 10
    os.utime(path, (past, past))


def test_folder_files_move_with_a_report(pipeline, db, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "erp").mkdir(parents=True)
    (inbox / "stranger").mkdir()
    good = inbox / "erp" / "jan.csv"
    good.write_text(CSV + "w1,C-1,api_calls,4,call,2025-01-02T00:00:00Z\nw2,C-1,api_calls,x,call,2025-01-02T00:00:00Z\n")
    bad = inbox / "erp" / "feb.csv"
    bad.write_text("id;qty\n1;2\n")
    partial = inbox / "erp" / "mar.csv.part"
    partial.write_text(CSV)
    fresh = inbox / "erp" / "apr.jsonl"
    fresh.write_text("")
    for p in (good, bad, partial):
        _old(p)
    watcher = FolderWatcher(pipeline, inbox, settle_seconds=5)
    before = snapshot(db[0])
    done = {os.path.basename(d["file"]): d for d in watcher.scan_once()}
    assert done["jan.csv"]["destination"] == "processed" and done["feb.csv"]["destination"] == "rejected"
    report = json.loads((inbox / "erp" / "processed" / "jan.csv.report.json").read_text())
    assert report["counts"] == {"accepted": 1, "duplicate": 0, "quarantined": 0, "rejected": 1}
    assert report["rejected"][0]["line"] == 3 and "not a number" in report["rejected"][0]["reason"]
    rejected = json.loads((inbox / "erp" / "rejected" / "feb.csv.report.json").read_text())
    assert "CSV header lacks column(s) record_id" in rejected["error"]
    assert partial.exists() and fresh.exists()  # still being written
    after = snapshot(db[0])
    assert len(after["records"]) == len(before["records"]) + 1  # type: ignore[arg-type]
    # the same file dropped again: all duplicates, and it does not overwrite the first one
    good.write_text(CSV + "w1,C-1,api_calls,4,call,2025-01-02T00:00:00Z\n")
    _old(good)
    again = watcher.scan_once()
    assert again[0]["duplicate"] == 1 and len(list((inbox / "erp" / "processed").glob("jan*.csv"))) == 2


def test_cli_ingest_quarantine_status(oracle_db, database_url, tmp_path):
    now = int(time.time())
    setup_mappings(oracle_db[1], start=now - 5 * DAY)
    at = datetime.fromtimestamp(now - 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    runner = CliRunner()
    data = tmp_path / "u.jsonl"
    data.write_text(
        f'{{"record_id":"c1","agreement":"C-1","meter":"api_calls","quantity":"3","unit":"call","occurred_at":"{at}"}}\n'
        f'{{"record_id":"c2","agreement":"C-1","meter":"api_calls","quantity":"3","unit":"kg","occurred_at":"{at}"}}\n'
    )
    out = runner.invoke(app, ["ingest", str(data), "--source", "erp", "--database", database_url])
    assert out.exit_code == 0, out.output
    assert "2 records: 1 accepted, 0 duplicate, 1 quarantined, 0 rejected" in out.output
    out = runner.invoke(
        app,
        ["ingest", "-", "--source", "erp", "--format", "csv", "--database", database_url],
        input=CSV + f"c3,C-2,api_calls,1,call,{at}\n",
    )
    assert "1 accepted" in out.output, out.output
    listed = runner.invoke(app, ["quarantine", "list", "--database", database_url])
    # with the record's quantity and time, as GET /v1/quarantine shows them, and since when it is held (UTC)
    held_since = json.loads(runner.invoke(app, ["quarantine", "list", "--json", "--database", database_url]).output)[0]["held_since"]
    assert held_since.endswith("Z") and abs(datetime.fromisoformat(held_since).timestamp() - time.time()) < 600
    assert f"erp:c2 3 kg of api_calls on C-1 at {at} (held since {held_since}) [unit_mismatch] unit 'kg' does not match" in listed.output
    assert runner.invoke(app, ["quarantine", "reject", "erp", "c2", "--note", "bad unit", "--database", database_url]).exit_code == 0
    cut = runner.invoke(app, ["cut", "--force", "--database", database_url])
    assert "cut 2 report(s) with 2 record(s)" in cut.output
    status = runner.invoke(app, ["status", "--json", "--database", database_url])
    assert json.loads(status.output)["backlog"]["pending"]["reports"] == 2
    proof = runner.invoke(app, ["prove", "c1", "--source", "erp", "--offline", "--json", "--database", database_url])
    assert json.loads(proof.output)["locally_verified"] is True
    key = runner.invoke(app, ["key", "create", "--source", "erp", "--database", database_url])
    assert key.output.startswith("stl_")
    listed = runner.invoke(app, ["map", "list", "--json", "--database", database_url])
    assert json.loads(listed.output)[0]["meters"][1] == {"index": 1, "name": "storage", "unit": "GB", "decimals": 3}
