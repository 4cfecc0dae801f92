"""Input that used to crash or wedge the oracle (issue 10, items 13-15, 17):

- a JSON body nested 100,000 levels deep, sent without a key, killed ``settle oracle run`` (SIGSEGV): now it is
  refused (401 without a key, 400 with one) and the service goes on answering;
- a quarantine decision for an unknown source, a 5000-digit quantity and an ``occurred_at`` outside years 1-9999
  once shifted to UTC were 500s (the last two dropping the whole batch): now a 404 naming the source, and a
  rejection of that record alone naming its field;
- ``limit=-5`` was accepted though the schema forbids it; two different keys in one request were judged by one;
- one file the oracle fails on stopped the folder watcher from processing the files after it, every second.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
import pytest
from oracle_helpers import rec, setup_mappings
from sqlalchemy.exc import OperationalError

from oracle import registry
from oracle.api import OracleState, create_app
from oracle.watcher import FolderWatcher
from settle.db import transaction
from settle.node import free_port

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
DEEP = b"[" * 100_000 + b"]" * 100_000  # about 200 KB
JSON = {"Content-Type": "application/json"}


@pytest.fixture()
def keys(db):  # type: ignore[no-untyped-def]
    with transaction(db[1]) as s:
        return {"erp": registry.create_api_key(s, source="erp", label="sap"), "op": registry.create_api_key(s, operator=True, label="ops")}


@pytest.fixture()
def client(db, pipeline):  # type: ignore[no-untyped-def]
    return TestClient(create_app(OracleState(db[0], db[1], pipeline)))


def test_a_deep_body_leaves_the_running_service_answering(tmp_path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'oracle.db'}"
    from oracle.database import open_database

    engine, factory = open_database(url)
    now = int(time.time())
    setup_mappings(factory, start=now - 5 * 86_400)
    with transaction(factory) as s:
        erp, op = registry.create_api_key(s, source="erp"), registry.create_api_key(s, operator=True)
    engine.dispose()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "settle", "oracle", "run", "--no-submit", "--port", str(port), "--database", url]
        + ["--inbox", str(tmp_path / "inbox")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else "the oracle exited"
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not come up"
            time.sleep(0.2)
        answers = [
            httpx.post(f"{base}/v1/quarantine/erp/r1/release", content=DEEP, headers=JSON, timeout=30),
            httpx.post(f"{base}/v1/usage", content=DEEP, headers=JSON, timeout=30),
            httpx.post(f"{base}/v1/quarantine/erp/r1/release", content=DEEP, headers={**JSON, "X-API-Key": op}, timeout=30),
            httpx.post(f"{base}/v1/usage", content=DEEP, headers={**JSON, "X-API-Key": erp}, timeout=30),
        ]
        assert [a.status_code for a in answers] == [401, 401, 400, 400]
        assert all(a.json()["errors"][0]["type"] == "too_deep" for a in answers[2:])
        assert process.poll() is None
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 86_400))
        after = httpx.post(f"{base}/v1/usage", json=[rec("after", at=at)], headers={"X-API-Key": erp}, timeout=30)
        assert after.status_code == 200 and after.json()["accepted"] == ["after"]
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.mark.parametrize("action", ["release", "reject"])
def test_a_decision_for_an_unknown_source_is_a_404_naming_it(client, keys, action):  # type: ignore[no-untyped-def]
    answer = client.post(f"/v1/quarantine/nosuch/r1/{action}", headers={"X-API-Key": keys["op"]})
    assert answer.status_code == 404
    assert answer.json()["errors"] == [
        {
            "loc": ["path", "source"],
            "msg": "unknown source 'nosuch': create it with 'settle oracle source add nosuch'.",
            "type": "not_found",
        }
    ]


def test_a_huge_quantity_or_a_date_beyond_the_calendar_rejects_only_its_record(client, keys):  # type: ignore[no-untyped-def]
    h = {**JSON, "X-API-Key": keys["erp"]}
    records = [
        rec("long-text", quantity="9" * 5_000),
        rec("after-9999", at="9999-12-31T23:00:00-05:00"),
        rec("before-1", at="0001-01-01T00:30:00+01:00"),
        rec("good-1"),
    ]
    body = json.dumps(records)[:-1].encode()
    # JSON numbers: an integer of 5000 digits (Python refuses to convert it) and one written as 1e999999999
    for rid, number in (("long-int", b"1" + b"0" * 5_000), ("exponent", b"1e999999999")):
        body += b', {"record_id": "' + rid.encode() + b'", "agreement": "C-1", "meter": "api_calls", "quantity": ' + number
        body += b', "unit": "call", "occurred_at": "2025-01-05T12:00:00Z"}'
    body += b", " + json.dumps(rec("good-2")).encode() + b"]"
    answer = client.post("/v1/usage", content=body, headers=h)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["accepted"] == ["good-1", "good-2"] and result["counts"]["rejected"] == 5
    reasons = {r["record_id"]: (r["code"], r["reason"]) for r in result["rejected"]}
    for rid in ("long-text", "long-int", "exponent"):
        assert reasons[rid][0] == "bad_quantity" and reasons[rid][1].startswith("quantity"), reasons[rid]
        assert len(reasons[rid][1]) < 200  # the 5000 digits are not echoed back
    for sent in records[1:3]:
        outside = f"occurred_at {sent['occurred_at']!r} is outside the years 0001 to 9999 in UTC"
        assert reasons[sent["record_id"]] == ("bad_timestamp", outside)


def test_parameters_and_keys_outside_the_document_are_refused(client, keys):  # type: ignore[no-untyped-def]
    op = {"X-API-Key": keys["op"]}
    for limit in (-5, 0, 10_001):
        refused = client.get("/v1/quarantine", params={"limit": limit}, headers=op)
        assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == ["query", "limit"]
    both = client.get("/v1/quarantine", headers={**op, "Authorization": f"Bearer {keys['erp']}"})
    assert both.status_code == 401 and "different keys" in both.json()["detail"]
    same = client.get("/v1/quarantine", headers={**op, "Authorization": f"Bearer {keys['op']}"})
    assert same.status_code == 200


def test_a_nul_character_is_refused_before_postgresql_sees_it(client, keys):  # type: ignore[no-untyped-def]
    """PostgreSQL cannot store or compare text with NUL (it raised, a 500): refused in a path or query (422) and in
    a decision's note; in a record it rejects that record alone."""
    op = {"X-API-Key": keys["op"]}
    for answer, where in (
        (client.get("/v1/proofs/erp/a%00b", headers=op), ["path"]),
        (client.post("/v1/quarantine/erp/a%00b/release", headers=op), ["path"]),
        (client.get("/v1/quarantine", params={"source": "a\x00"}, headers=op), ["query"]),
        (client.post("/v1/quarantine/erp/r1/reject", json={"note": "a\x00b"}, headers=op), ["body", "note"]),
    ):
        assert answer.status_code == 422 and answer.json()["errors"][0]["loc"] == where, answer.text
    batch = client.post("/v1/usage", json=[rec("nul\x00"), rec("fine")], headers={"X-API-Key": keys["erp"]}).json()
    assert batch["accepted"] == ["fine"] and batch["rejected"][0]["code"] == "malformed"


def _csv(path: Path, *lines: str) -> None:
    path.write_text("record_id,agreement,meter,quantity,unit,occurred_at\n" + "".join(f"{line}\n" for line in lines))
    past = time.time() - 10
    os.utime(path, (past, past))


def test_a_file_the_oracle_fails_on_is_set_aside_and_the_files_after_it_go_on(pipeline, db, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    inbox = tmp_path / "inbox"
    folder = inbox / "erp"
    folder.mkdir(parents=True)
    # the line that used to make every scan fail: now rejected on its own, the file and the next one processed
    _csv(folder / "a.csv", "a1,C-1,api_calls,1,call,9999-12-31T23:00:00-05:00", "a2,C-1,api_calls,1,call,2025-01-05T12:00:00Z")
    _csv(folder / "b.csv", "b1,C-1,api_calls,1,call,2025-01-05T12:00:00Z")
    watcher = FolderWatcher(pipeline, inbox, settle_seconds=1)
    done = {Path(d["file"]).name: d for d in watcher.scan_once()}
    assert {name: (d["destination"], d["accepted"], d["rejected"]) for name, d in done.items()} == {
        "a.csv": ("processed", 1, 1),
        "b.csv": ("processed", 1, 0),
    }

    # a fault of the oracle on one file's content: that file goes to rejected/ with the error, the next is read
    _csv(folder / "c.csv", "c1,C-1,api_calls,1,call,2025-01-05T12:00:00Z")
    _csv(folder / "d.csv", "d1,C-1,api_calls,1,call,2025-01-05T12:00:00Z")
    real = pipeline.ingest_file

    def failing(source, path, **kwargs):  # type: ignore[no-untyped-def]
        if path.name == "c.csv":
            raise ValueError("year 10000 is out of range")
        return real(source, path, **kwargs)

    monkeypatch.setattr(pipeline, "ingest_file", failing)
    done = {Path(d["file"]).name: d for d in watcher.scan_once()}
    assert {name: d["destination"] for name, d in done.items()} == {"c.csv": "rejected", "d.csv": "processed"}
    report = json.loads((folder / "rejected" / "c.csv.report.json").read_text())
    assert report["error"] == "the oracle failed on this file: ValueError: year 10000 is out of range"
    assert watcher.scan_once() == []  # nothing left to fail on every second

    # the database failing is not the file's fault: it stays and is tried again, after the others
    _csv(folder / "e.csv", "e1,C-1,api_calls,1,call,2025-01-05T12:00:00Z")
    _csv(folder / "f.csv", "f1,C-1,api_calls,1,call,2025-01-05T12:00:00Z")
    outage = [True]

    def database_down(source, path, **kwargs):  # type: ignore[no-untyped-def]
        if path.name == "e.csv" and outage[0]:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real(source, path, **kwargs)

    monkeypatch.setattr(pipeline, "ingest_file", database_down)
    assert [Path(d["file"]).name for d in watcher.scan_once()] == ["f.csv"]
    assert (folder / "e.csv").exists()
    outage[0] = False
    assert [(Path(d["file"]).name, d["destination"]) for d in watcher.scan_once()] == [("e.csv", "processed")]
