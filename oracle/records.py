"""Usage records as ERP systems send them: field checks and normalisation, and streaming CSV/JSONL readers.

A record has six fields: ``record_id``, ``agreement`` (address or ERP reference), ``meter`` (ERP meter name or
index), ``quantity`` (integer, or decimal string), ``unit`` and ``occurred_at`` (RFC 3339 with an offset).
Other fields are ignored. A malformed record is *rejected* (nothing is stored, the sender fixes and resends);
a well-formed record that fails a plausibility check is *quarantined* (see ``oracle.ingest``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import IO, Any

from settle.errors import ValidationError

FIELDS = ("record_id", "agreement", "meter", "quantity", "unit", "occurred_at")
MAX_ID = 128
MAX_REF = 200
MAX_METER = 100
MAX_UNIT = 32
MAX_UNITS = 2**63 - 1  # largest quantity and cumulative total the oracle stores (SQL BIGINT)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d)")
_DECIMAL = re.compile(r"(\d+)\.(\d+)")
_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")
NEWLINE = b"\n"


class RecordError(ValidationError):
    """One record is malformed; ``code`` names the check (``bad_quantity``, ``bad_timestamp`` ...)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class FileFormatError(ValidationError):
    """A whole file cannot be read (unknown format, bad header, not UTF-8)."""


# A parsed record, as a tuple for speed:
# (record_id, agreement, meter, quantity_text, unit, occurred_us)
# ``quantity_text`` is the normalised decimal ("12", "0.5"): digits, at most one point, no trailing zeros after it.
Parsed = tuple[str, str, str, str, str, int]


def _text(name: str, value: Any, limit: int) -> str:
    if isinstance(value, str):
        if not value or len(value) > limit or not value.isprintable():
            if not value:
                raise RecordError("missing_field", f"{name} is empty")
            if len(value) > limit:
                raise RecordError("malformed", f"{name} is longer than {limit} characters")
            raise RecordError("malformed", f"{name} {value!r} contains control characters")
        return value
    if value is None:
        raise RecordError("missing_field", f"{name} is missing")
    if isinstance(value, int) and not isinstance(value, bool) and name in ("record_id", "meter"):
        return str(value)
    raise RecordError("malformed", f"{name} must be a string, not {type(value).__name__}")


def normalize_quantity(value: Any) -> str:
    """The quantity as a normalised decimal string; raises ``RecordError`` for anything else."""
    if isinstance(value, str):
        s = value.strip()
        if s.isdigit() and s.isascii():
            return str(int(s))
        m = _DECIMAL.fullmatch(s)
        if m is not None:
            frac = m.group(2).rstrip("0")
            whole = str(int(m.group(1)))
            return f"{whole}.{frac}" if frac else whole
        if s.startswith("-") and (s[1:].isdigit() or _DECIMAL.fullmatch(s[1:])):
            raise RecordError("negative_quantity", f"quantity {value!r} is negative: usage records only add up (send a correction instead)")
        raise RecordError("bad_quantity", f'quantity {value!r} is not a number (an integer, or a decimal string like "12.5")')
    if isinstance(value, bool) or value is None:
        if value is None:
            raise RecordError("missing_field", "quantity is missing")
        raise RecordError("bad_quantity", f"quantity {value!r} is not a number")
    if isinstance(value, int):
        if value < 0:
            raise RecordError("negative_quantity", f"quantity {value} is negative: usage records only add up (send a correction instead)")
        return str(value)
    if isinstance(value, Decimal):  # JSON numbers with a fraction are parsed as Decimal, exactly as written
        if not value.is_finite():
            raise RecordError("bad_quantity", f"quantity {value} is not a finite number")
        if value < 0:
            raise RecordError("negative_quantity", f"quantity {value} is negative: usage records only add up (send a correction instead)")
        return normalize_quantity(format(value, "f"))
    if isinstance(value, float):
        raise RecordError("bad_quantity", f'quantity {value!r} is a float: send decimals as a string such as "12.5"')
    raise RecordError("bad_quantity", f"quantity {value!r} is not a number")


def to_units(quantity: str, decimals: int) -> int | None:
    """``"1.5"`` with 3 decimals → 1500; ``None`` if the quantity has more decimals than the meter allows."""
    point = quantity.find(".")
    if point < 0:
        return int(quantity) * 10**decimals if decimals else int(quantity)
    frac = quantity[point + 1 :]
    if len(frac) > decimals:
        return None
    return int(quantity[:point]) * 10**decimals + int(frac.ljust(decimals, "0"))


def from_units(units: int, decimals: int) -> str:
    """Inverse of ``to_units`` (normalised)."""
    if not decimals:
        return str(units)
    whole, frac = divmod(units, 10**decimals)
    frac_text = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{whole}.{frac_text}" if frac_text else str(whole)


def parse_timestamp(value: Any) -> int:
    """RFC 3339 with an offset → microseconds since the epoch (digits beyond microseconds are dropped)."""
    if type(value) is str and len(value) == 20 and value[19] == "Z" and value[10] == "T" and value[7] == "-" and value[13] == ":":
        # fast path for the common "YYYY-MM-DDTHH:MM:SSZ": whole seconds, so the float timestamp is exact
        try:
            return int(datetime.fromisoformat(value).timestamp()) * 1_000_000
        except ValueError:
            pass
    if not isinstance(value, str):
        if value is None:
            raise RecordError("missing_field", "occurred_at is missing")
        raise RecordError("bad_timestamp", f"occurred_at must be an RFC 3339 string, not {type(value).__name__}")
    if _RFC3339.fullmatch(value) is None:
        raise RecordError("bad_timestamp", f"occurred_at {value!r} is not an RFC 3339 timestamp with an offset (e.g. 2025-03-01T12:00:00Z)")
    try:
        dt = datetime.fromisoformat(value.upper())
    except ValueError:
        raise RecordError("bad_timestamp", f"occurred_at {value!r} is not a valid date and time") from None
    return (dt - _EPOCH) // _ONE_US


def format_timestamp(us: int) -> str:
    """Microseconds since the epoch → RFC 3339 in UTC (``...Z``)."""
    dt = _EPOCH + timedelta(microseconds=us)
    return dt.isoformat(timespec="microseconds" if us % 1_000_000 else "seconds").replace("+00:00", "Z")


def parse_fields(record_id: Any, agreement: Any, meter: Any, quantity: Any, unit: Any, occurred_at: Any) -> Parsed:
    """Check and normalise the six fields; raise ``RecordError`` naming the first problem."""
    if (
        type(record_id) is str
        and type(agreement) is str
        and type(meter) is str
        and type(quantity) is str
        and type(unit) is str
        and 0 < len(record_id) <= MAX_ID
        and 0 < len(agreement) <= MAX_REF
        and 0 < len(meter) <= MAX_METER
        and 0 < len(unit) <= MAX_UNIT
        and (record_id + agreement + meter + unit).isprintable()
    ):
        # fast path: all strings of acceptable length without control characters
        if agreement[:2] in ("0x", "0X") and _ADDRESS.fullmatch(agreement):
            agreement = agreement.lower()
        if not (quantity.isdigit() and quantity.isascii() and (quantity[0] != "0" or quantity == "0")):
            whole, dot, frac = quantity.partition(".")
            if not (
                dot
                and whole.isdigit()
                and frac.isdigit()
                and whole.isascii()
                and frac.isascii()
                and (whole[0] != "0" or whole == "0")
                and frac[-1] != "0"
            ):
                quantity = normalize_quantity(quantity)
        return (record_id, agreement, meter, quantity, unit, parse_timestamp(occurred_at))
    rid = _text("record_id", record_id, MAX_ID)
    ag = _text("agreement", agreement, MAX_REF)
    if _ADDRESS.fullmatch(ag):
        ag = ag.lower()
    mt = _text("meter", meter, MAX_METER)
    qty = normalize_quantity(quantity)
    un = _text("unit", unit, MAX_UNIT)
    return (rid, ag, mt, qty, un, parse_timestamp(occurred_at))


def parse_mapping(obj: Any) -> Parsed:
    """A record given as a JSON object."""
    if not isinstance(obj, dict):
        raise RecordError("malformed", f"a record must be a JSON object, not {type(obj).__name__}")
    get = obj.get
    return parse_fields(get("record_id"), get("agreement"), get("meter"), get("quantity"), get("unit"), get("occurred_at"))


def record_id_of(obj: Any) -> str | None:
    """The record id of a raw record, if it has a usable one (for error reports)."""
    if isinstance(obj, dict):
        rid = obj.get("record_id")
        return str(rid) if isinstance(rid, str | int) and not isinstance(rid, bool) else None
    return None


# -- streaming readers ------------------------------------------------------------------------------------------

# One item a reader yields: (line number, parsed record) or (line number, RecordError with the record id if known).
Item = tuple[int, Parsed | tuple[str | None, RecordError]]


@dataclass
class ReadProgress:
    """Bytes read so far, for progress display."""

    bytes_read: int = 0


def detect_format(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    raise FileFormatError(f"{name}: unknown file type (use .csv or .jsonl)")


def _lines(stream: IO[bytes], progress: ReadProgress) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(stream, start=1):
        progress.bytes_read += len(raw)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FileFormatError(f"line {number}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
        if number == 1 and line.startswith("\ufeff"):
            line = line[1:]
        yield number, line


def read_jsonl(stream: IO[bytes], progress: ReadProgress | None = None) -> Iterator[Item]:
    """JSON Lines: one record object per line; blank lines are skipped."""
    progress = progress or ReadProgress()
    loads = json.loads
    for number, line in _lines(stream, progress):
        if not line.strip():
            continue
        try:
            obj = loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            yield number, (None, RecordError("malformed", f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if isinstance(obj, dict):
            get = obj.get
            try:
                yield (
                    number,
                    parse_fields(get("record_id"), get("agreement"), get("meter"), get("quantity"), get("unit"), get("occurred_at")),
                )
            except RecordError as exc:
                yield number, (record_id_of(obj), exc)
        else:
            yield number, (None, RecordError("malformed", f"a record must be a JSON object, not {type(obj).__name__}"))


def read_csv(stream: IO[bytes], progress: ReadProgress | None = None) -> Iterator[Item]:
    """CSV with a header row naming at least the six fields (any order; other columns are ignored)."""
    progress = progress or ReadProgress()
    counted = _Counted(stream, progress)
    text = io.TextIOWrapper(counted, encoding="utf-8-sig", newline="")  # type: ignore[arg-type]
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise FileFormatError("the file is empty: a CSV export needs a header row") from None
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"line 1: not UTF-8 ({exc.reason})") from None
    except csv.Error as exc:
        raise FileFormatError(f"line 1: not a CSV header ({exc})") from None
    columns = csv_columns(header)
    yield from _csv_rows(reader, columns, 0)


def csv_columns(header: list[str]) -> tuple[tuple[int, ...], int]:
    """Positions of the six fields in a CSV header, and the header's width."""
    names = [h.strip().lower() for h in header]
    missing = [f for f in FIELDS if f not in names]
    if missing:
        raise FileFormatError(f"CSV header lacks column(s) {', '.join(missing)}; it needs {', '.join(FIELDS)}")
    return tuple(names.index(f) for f in FIELDS), len(names)


def _csv_rows(reader: Any, columns: tuple[tuple[int, ...], int], offset: int) -> Iterator[Item]:
    (i0, i1, i2, i3, i4, i5), width = columns
    parse = parse_fields
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise FileFormatError(f"after line {reader.line_num + offset}: not UTF-8 ({exc.reason})") from None
        except csv.Error as exc:
            yield reader.line_num + offset, (None, RecordError("malformed", f"not valid CSV ({exc})"))
            continue
        if len(row) != width:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            rid = row[i0] if len(row) > i0 else None
            yield reader.line_num + offset, (rid, RecordError("malformed", f"{len(row)} fields, the header has {width}"))
            continue
        try:
            yield reader.line_num + offset, parse(row[i0], row[i1], row[i2], row[i3], row[i4], row[i5])
        except RecordError as exc:
            yield reader.line_num + offset, (row[i0] or None, exc)


class _Counted(io.RawIOBase):
    """A binary stream that counts the bytes read through it (progress for CSV files)."""

    def __init__(self, inner: IO[bytes], progress: ReadProgress):
        self._inner = inner
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._progress.bytes_read += n
        return n


def parse_block(data: bytes, fmt: str, first_line: int, columns: tuple[tuple[int, ...], int] | None) -> list[Item]:
    """Records from a block of whole lines (a slice of a file, split at newlines) whose first line is
    ``first_line``. CSV blocks must not contain quoted line breaks (callers split only files without quotes)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = first_line + data.count(NEWLINE, 0, exc.start)
        raise FileFormatError(f"line {bad_line}: not UTF-8 ({exc.reason})") from None
    if fmt == "csv":
        assert columns is not None
        return list(_csv_rows(csv.reader(io.StringIO(text, newline="")), columns, first_line - 1))
    out: list[Item] = []
    loads = json.loads
    parse = parse_fields
    for number, line in enumerate(text.split("\n"), start=first_line):
        if not line.strip():
            continue
        try:
            obj = loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            out.append((number, (None, RecordError("malformed", f"not valid JSON ({exc.msg} at column {exc.colno})"))))
            continue
        if isinstance(obj, dict):
            get = obj.get
            try:
                parsed = parse(get("record_id"), get("agreement"), get("meter"), get("quantity"), get("unit"), get("occurred_at"))
                out.append((number, parsed))
            except RecordError as exc:
                out.append((number, (record_id_of(obj), exc)))
        else:
            out.append((number, (None, RecordError("malformed", f"a record must be a JSON object, not {type(obj).__name__}"))))
    return out


def reader_for(fmt: str) -> Callable[[IO[bytes], ReadProgress | None], Iterator[Item]]:
    if fmt == "csv":
        return read_csv
    if fmt == "jsonl":
        return read_jsonl
    raise FileFormatError(f"unknown format {fmt!r}: use csv or jsonl")


def read_text_records(text: str, fmt: str) -> Iterator[Item]:
    """Convenience for tests and small inputs."""
    return reader_for(fmt)(io.BytesIO(text.encode()), None)
