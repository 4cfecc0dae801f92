"""The column-at-a-time checks (records read as columns, hashed in one pass) give exactly the outcome of the
record-by-record checks: same accepted records, periods, units, leaves, held records and issues, in the same order,
for good and bad records mixed at random, and for whole CSV and JSONL files read in blocks of lines."""

from __future__ import annotations

import io
import json
import random
from decimal import Decimal

import pytest
from oracle_helpers import AG1, AG2, DAY, START, setup_mappings

from oracle import records as rec
from oracle.check import Checked, Checker
from oracle.snapshot import Registry

NOW = START + 40 * DAY  # period 1 open, period 0 in its grace window until day 33... closed: late_closed for period 0

GOOD_TIMES = ["2025-02-01T00:00:00Z", "2025-02-05T10:11:12Z", "2025-02-09T23:59:59Z", "2025-02-02T01:00:00Z"]
TIMES = GOOD_TIMES + [
    "2025-01-20T00:00:00Z",  # period 0: its grace window closed
    "2024-12-31T23:59:59Z",  # before the start
    "2025-03-01T00:00:00Z",  # future
    "2025-02-05T10:11:12+01:00",
    "2025-02-05t10:11:12z",
    "2025-02-05T10:11:12.5Z",
    "2025-02-30T10:11:12Z",
    "2025-02-05 10:11",
    "2025-02-05T10:11:12",
    "2025-02-05T25:11:12Z",
    "",
]
QUANTITIES = ["5", "0", "12", "1.5", "1.25", "0.001", "1.2345", "05", "5.0", "5.", ".5", "-3", "abc", "", " 7 ", "99999999999999999999"]
AGREEMENTS = ["C-1", "C-2", AG1, AG2.upper().replace("0X", "0x"), "C_1", "0x" + "99" * 20, ""]
METERS = ["api_calls", "storage", "0", "1", "api_call", ""]
UNITS = ["call", "GB", "calls", ""]


def _registry(factory) -> Registry:  # type: ignore[no-untyped-def]
    with factory.kw["bind"].connect() as conn:
        return Registry.load(conn)


def _random_rows(rnd: random.Random, n: int, bad: float) -> list[list[str]]:
    rows = []
    for i in range(n):
        if rnd.random() < bad:
            row = [
                rnd.choice([f"r{i}", f"r{rnd.randrange(max(i, 1))}", "", "x" * 129, f"r{i}\t"]),
                rnd.choice(AGREEMENTS),
                rnd.choice(METERS),
                rnd.choice(QUANTITIES),
                rnd.choice(UNITS),
                rnd.choice(TIMES),
            ]
        else:
            meter = rnd.choice(["api_calls", "storage"])
            row = [
                f"r{i}",
                rnd.choice(["C-1", "C-2", AG1]),
                meter,
                rnd.choice(["5", "17", "1.5"] if meter == "storage" else ["5", "17", "3"]),
                "GB" if meter == "storage" else "call",
                rnd.choice(GOOD_TIMES),
            ]
        rows.append(row)
    return rows


def _same(a: Checked, b: Checked) -> None:
    a.summarize()
    b.summarize()
    for name in ("items", "rids", "agreements", "meters", "periods", "units", "times", "lines", "leaves", "held"):
        assert getattr(a, name) == getattr(b, name), name
    assert [i.as_dict() for i in a.issues] == [i.as_dict() for i in b.issues]
    for name in ("keys", "key_of", "key_sum", "key_count", "key_max", "pairs", "pair_of", "pair_count", "pair_first", "pair_leaves"):
        assert getattr(a, name) == getattr(b, name), name


@pytest.mark.parametrize("bad", [0.0, 0.002, 0.05, 0.5, 1.0])
def test_columns_match_record_by_record(sqlite_db, bad):  # type: ignore[no-untyped-def]
    setup_mappings(sqlite_db[1])
    registry = _registry(sqlite_db[1])
    rnd = random.Random(int(bad * 1000) + 7)
    for _ in range(5):
        rows = _random_rows(rnd, rnd.choice([1, 50, 700, 3000]), bad)
        as_json = rnd.random() < 0.5
        values = [[int(v) if as_json and j == 3 and v.isdigit() and rnd.random() < 0.5 else v for j, v in enumerate(r)] for r in rows]
        cols = rec.Columns(list(range(2, 2 + len(rows))), [list(c) for c in zip(*values, strict=True)], json=as_json)
        one_by_one = Checker(registry, "erp", 300).check([cols.item(i) for i in range(len(cols))], NOW)
        by_columns = Checker(registry, "erp", 300).check_segments([cols], NOW)
        _same(one_by_one, by_columns)
        if bad == 0.0:
            assert len(by_columns.rids) == len(rows)


def _csv_text(rows: list[list[str]], extra: bool) -> str:
    header = "record_id,agreement,meter,quantity,unit,occurred_at" + (",note" if extra else "")
    return header + "\n" + "".join(",".join(r) + (",x" if extra else "") + "\n" for r in rows)


def test_csv_blocks_match_the_csv_reader(sqlite_db):  # type: ignore[no-untyped-def]
    setup_mappings(sqlite_db[1])
    registry = _registry(sqlite_db[1])
    rnd = random.Random(3)
    rows = _random_rows(rnd, 2000, 0.05)
    text = _csv_text(rows, extra=True)
    lines = text.split("\n")
    lines.insert(10, "")  # blank line
    lines.insert(20, "short,row")
    lines.insert(30, "a,b,c,d,e,f,g,h")
    lines[40] = lines[40] + "\r"
    lines[50] = lines[50].replace(",", ",\x00", 1)
    variants = ["\n".join(lines), "\ufeff" + text, text.replace("\n", "\r\n"), text.rstrip("\n")]
    for data in variants:
        for size in (7, 500, 5000):
            expected = Checker(registry, "erp", 300).check(list(rec.read_csv(io.BytesIO(data.encode()))), NOW)
            checker = Checker(registry, "erp", 300)
            chunks = list(rec.read_segments(io.BytesIO(data.encode()), "csv", size))
            got = checker.check_segments([s for chunk in chunks for s in chunk], NOW)  # type: ignore[union-attr]
            _same(expected, got)


def test_jsonl_blocks_match_the_jsonl_reader(sqlite_db):  # type: ignore[no-untyped-def]
    setup_mappings(sqlite_db[1])
    registry = _registry(sqlite_db[1])
    rnd = random.Random(4)
    lines = []
    for i, row in enumerate(_random_rows(rnd, 1500, 0.05)):
        obj: dict[str, object] = dict(zip(rec.FIELDS, row, strict=True))
        pick = rnd.random()
        if pick < 0.3 and row[3].isdigit():
            obj["quantity"] = int(row[3])
        elif pick < 0.32:
            obj["quantity"] = Decimal("1.5") if i % 2 else 1e3
        elif pick < 0.33:
            obj["quantity"] = 12345678901234567890123
        elif pick < 0.34:
            obj["record_id"] = i
        elif pick < 0.35:
            del obj["unit"]
        lines.append(json.dumps(obj, default=str) if not isinstance(obj.get("quantity"), Decimal) else json.dumps(obj, default=float))
    lines[5] = ""
    lines[6] = "{broken"
    lines[7] = "[1, 2]"
    lines[8] = '{"record_id": "nan", "agreement": "C-1", "meter": "api_calls", "quantity": NaN, "unit": "call"}'
    data = "\n".join(lines) + "\n"
    expected = Checker(registry, "erp", 300).check(list(rec.read_jsonl(io.BytesIO(data.encode()))), NOW)
    for size in (3, 400, 5000):
        chunks = list(rec.read_segments(io.BytesIO(data.encode()), "jsonl", size))
        got = Checker(registry, "erp", 300).check_segments([s for chunk in chunks for s in chunk], NOW)  # type: ignore[union-attr]
        _same(expected, got)


def test_not_utf8_stops_after_the_lines_before_it():
    data = b'{"a": 1}\n{"b": 2}\n{"c": "\xff"}\n{"d": 4}\n'
    runs = rec.line_runs(io.BytesIO(data), 10)
    assert next(runs) == (1, ['{"a": 1}', '{"b": 2}'])
    with pytest.raises(rec.FileFormatError, match="line 3: not UTF-8"):
        next(runs)
