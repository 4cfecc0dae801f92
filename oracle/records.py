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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import repeat
from typing import IO, Any, NamedTuple

import orjson

from settle.errors import ValidationError

FIELDS = ("record_id", "agreement", "meter", "quantity", "unit", "occurred_at")
MAX_ID = 128
MAX_REF = 200
MAX_METER = 100
MAX_UNIT = 32
MAX_UNITS = 2**63 - 1  # largest quantity and cumulative total the oracle stores (SQL BIGINT)
# A quantity is read only up to this many characters (digits and point): MAX_UNITS has 19 digits, so a longer
# one can never be stored, and Python refuses to convert integers of more than 4,300 digits.
MAX_QUANTITY_CHARS = 100

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
# occurred_at must be a UTC instant Python can show again: 0001-01-01 to 9999-12-31 (an offset can move the
# instant written as 9999-12-31T23:00-05:00 into year 10000)
_FIRST_US = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // _ONE_US
_LAST_US = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _ONE_US
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


class Parsed(NamedTuple):
    """A well-formed record, its fields checked and normalised (a tuple: cheap to build, compare and pickle)."""

    record_id: str
    agreement: str  # an address (lower case) or an ERP reference, as sent
    meter: str  # the ERP's meter name, or the meter index as text
    quantity: str  # the normalised decimal ("12", "0.5"): digits, at most one point, no trailing zeros after it
    unit: str
    occurred_us: int  # microseconds since the epoch, UTC


#: ``Parsed(...)`` runs a Python-level ``__new__``; the per-record path builds one per record with tuple's own
_new = tuple.__new__


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
        if len(s) > MAX_QUANTITY_CHARS:
            raise RecordError(
                "bad_quantity",
                f"quantity {s[:20]!r}… has {len(s):,} characters; at most {MAX_QUANTITY_CHARS} are read "
                f"(the largest storable quantity, {MAX_UNITS} units, has 19 digits)",
            )
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
        if value.bit_length() > 3 * MAX_QUANTITY_CHARS:  # over 90 digits: never storable, and str() may refuse it
            digits = int(value.bit_length() * 0.30103) + 1
            raise RecordError("bad_quantity", f"quantity of about {digits:,} digits is too large (at most {MAX_UNITS} units are stored)")
        return str(value)
    if isinstance(value, Decimal):  # JSON numbers with a fraction are parsed as Decimal, exactly as written
        if not value.is_finite():
            raise RecordError("bad_quantity", f"quantity {value} is not a finite number")
        if value < 0:
            raise RecordError("negative_quantity", f"quantity {value} is negative: usage records only add up (send a correction instead)")
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)
        if value.adjusted() >= MAX_QUANTITY_CHARS or exponent < -MAX_QUANTITY_CHARS:
            # written out, it would have more than MAX_QUANTITY_CHARS digits (1e999999999 would take a gigabyte)
            raise RecordError("bad_quantity", f"quantity {value:.3E} has too many digits (at most {MAX_QUANTITY_CHARS} are read)")
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
    us = (dt - _EPOCH) // _ONE_US
    if not _FIRST_US <= us <= _LAST_US:
        raise RecordError("bad_timestamp", f"occurred_at {value!r} is outside the years 0001 to 9999 in UTC")
    return us


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
        and len(quantity) <= MAX_QUANTITY_CHARS
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
        return _new(Parsed, (record_id, agreement, meter, quantity, unit, parse_timestamp(occurred_at)))
    rid = _text("record_id", record_id, MAX_ID)
    ag = _text("agreement", agreement, MAX_REF)
    if _ADDRESS.fullmatch(ag):
        ag = ag.lower()
    mt = _text("meter", meter, MAX_METER)
    qty = normalize_quantity(quantity)
    un = _text("unit", unit, MAX_UNIT)
    return _new(Parsed, (rid, ag, mt, qty, un, parse_timestamp(occurred_at)))


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
    text = io.TextIOWrapper(counted, encoding="utf-8-sig", newline="")
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

    @property
    def name(self) -> Any:
        return getattr(self._inner, "name", None)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        # TextIOWrapper reads through read(): the inner stream's bytes, counted, without readinto's copy (and typed
        # ``bytes``, never RawIOBase's ``None``, as a TextIOWrapper's buffer must be).
        data = self._inner.read(size)
        self._progress.bytes_read += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._progress.bytes_read += n
        return n


# -- columns: many records at once ------------------------------------------------------------------------------


class Columns:
    """Consecutive records as read, field by field (raw values: strings from CSV, any JSON value from JSON).

    ``oracle.check`` checks whole columns at once where every record is well-formed and plausible, and falls back
    to :meth:`item` (exactly what the per-record readers yield) for the records where it cannot.
    """

    __slots__ = ("lines", "record_id", "agreement", "meter", "quantity", "unit", "occurred_at", "json")

    def __init__(self, lines: Sequence[int], fields: list[list[Any]], *, json: bool = False):
        self.lines = lines
        self.record_id, self.agreement, self.meter, self.quantity, self.unit, self.occurred_at = fields
        self.json = json

    def __len__(self) -> int:
        return len(self.lines)

    def fields(self, lo: int = 0, hi: int | None = None) -> list[list[Any]]:
        cols = [self.record_id, self.agreement, self.meter, self.quantity, self.unit, self.occurred_at]
        if lo == 0 and (hi is None or hi == len(self.lines)):
            return cols
        return [c[lo:hi] for c in cols]

    def item(self, i: int) -> Item:
        """Record ``i`` as the per-record readers yield it: (line, parsed) or (line, (record id, error))."""
        rid = self.record_id[i]
        try:
            return self.lines[i], parse_fields(rid, self.agreement[i], self.meter[i], self.quantity[i], self.unit[i], self.occurred_at[i])
        except RecordError as exc:
            if self.json:
                bad = str(rid) if isinstance(rid, str | int) and not isinstance(rid, bool) else None
            else:
                bad = rid or None
            return self.lines[i], (bad, exc)

    def items(self, lo: int, hi: int) -> list[Item]:
        return [self.item(i) for i in range(lo, hi)]

    def has_float(self) -> bool:
        """Whether a field holds a float (JSON decoded without exact decimals: decode again with ``Decimal``)."""
        return any(float in set(map(type, col)) for col in self.fields())


# A run of records: columns, or records one by one (where a line cannot be read as columns).
Segment = Columns | list[Item]


def columns_from_objects(objects: list[Any], lines: Sequence[int]) -> Columns | None:
    """Columns of JSON objects (``None`` unless every one is an object)."""
    if objects and set(map(type, objects)) != {dict}:
        return None
    get = dict.get
    return Columns(lines, [list(map(get, objects, repeat(name))) for name in FIELDS], json=True)


def _jsonl_item(number: int, line: str) -> Item | None:
    """One JSON line as ``read_jsonl`` reads it (``None`` for a blank line)."""
    if not line.strip():
        return None
    try:
        obj = json.loads(line, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        return number, (None, RecordError("malformed", f"not valid JSON ({exc.msg} at column {exc.colno})"))
    if isinstance(obj, dict):
        get = obj.get
        try:
            return number, parse_fields(get("record_id"), get("agreement"), get("meter"), get("quantity"), get("unit"), get("occurred_at"))
        except RecordError as exc:
            return number, (record_id_of(obj), exc)
    return number, (None, RecordError("malformed", f"a record must be a JSON object, not {type(obj).__name__}"))


def _jsonl_columns(lines: list[str], first_line: int, objects: list[Any]) -> Columns:
    cols = columns_from_objects(objects, range(first_line, first_line + len(lines)))
    assert cols is not None
    if cols.has_float():  # decode again exactly as the per-record reader does (numbers with a fraction as Decimal)
        loads = json.loads
        cols = columns_from_objects([loads(line, parse_float=Decimal) for line in lines], cols.lines)
        assert cols is not None
    return cols


def jsonl_segments(lines: list[str], first_line: int) -> list[Segment]:
    """Records of consecutive JSON lines (``lines[0]`` is line ``first_line``)."""
    if not lines:
        return []
    loads = orjson.loads
    try:
        objects = list(map(loads, lines))
    except orjson.JSONDecodeError:
        objects = None
    if objects is not None and set(map(type, objects)) == {dict}:
        return [_jsonl_columns(lines, first_line, objects)]
    # some lines are blank, broken or not objects: those one by one, the runs between them as columns
    segments: list[Segment] = []
    run_lines: list[str] = []
    run_objects: list[Any] = []
    run_first = first_line
    for i, line in enumerate(lines):
        try:
            obj = loads(line)
        except orjson.JSONDecodeError:
            obj = None
        if type(obj) is dict:
            if not run_lines:
                run_first = first_line + i
            run_lines.append(line)
            run_objects.append(obj)
            continue
        if run_lines:
            segments.append(_jsonl_columns(run_lines, run_first, run_objects))
            run_lines, run_objects = [], []
        item = _jsonl_item(first_line + i, line)
        if item is not None:
            segments.append([item])
    if run_lines:
        segments.append(_jsonl_columns(run_lines, run_first, run_objects))
    return segments


def _csv_items(lines: list[str], first_line: int, columns: tuple[tuple[int, ...], int]) -> list[Item]:
    """CSV lines read by the csv module, record by record (``lines`` hold no quoted line breaks)."""
    return list(_csv_rows(csv.reader(io.StringIO("\n".join(lines) + "\n", newline="")), columns, first_line - 1))


def _csv_columns(lines: list[str], first_line: int, columns: tuple[tuple[int, ...], int]) -> Columns:
    """Lines that all have exactly the header's number of fields and no quotes."""
    idx, width = columns
    flat = ",".join(lines).split(",")
    return Columns(range(first_line, first_line + len(lines)), [flat[j::width] for j in idx])


def csv_segments(lines: list[str], first_line: int, columns: tuple[tuple[int, ...], int]) -> list[Segment]:
    """Records of consecutive CSV lines without quoted line breaks (``lines[0]`` is line ``first_line``).

    Lines without quotes, NUL or bare carriage returns that have the header's number of fields are split into
    columns (the csv module would read them the same); any other line goes through the csv module."""
    if not lines:
        return []
    text = "\n".join(lines)
    if "\r" in text:
        lines = [line[:-1] if line[-1:] == "\r" else line for line in lines]
        text = "\n".join(lines)
    if '"' in text or "\x00" in text or "\r" in text:
        return [_csv_items(lines, first_line, columns)]
    fields = columns[1] - 1
    counts = list(map(str.count, lines, repeat(",")))
    if min(counts) == fields == max(counts):
        return [_csv_columns(lines, first_line, columns)]
    segments: list[Segment] = []
    start = 0
    for i, count in enumerate(counts):
        if count != fields:
            if i > start:
                segments.append(_csv_columns(lines[start:i], first_line + start, columns))
            segments.append(_csv_items(lines[i : i + 1], first_line + i, columns))
            start = i + 1
    if start < len(lines):
        segments.append(_csv_columns(lines[start:], first_line + start, columns))
    return segments


def line_runs(stream: IO[bytes], size: int, progress: ReadProgress | None = None, block: int = 1 << 20) -> Iterator[tuple[int, list[str]]]:
    """The lines of a UTF-8 stream without their line ends, in runs of ``size`` (the last may be shorter):
    (number of the run's first line, lines). A byte sequence that is not UTF-8 ends the stream with
    ``FileFormatError`` after the lines before it."""
    progress = progress or ReadProgress()
    number = 1  # number of the next line
    carry = b""
    pending: list[str] = []
    pending_first = 1
    while True:
        data = stream.read(block)
        progress.bytes_read += len(data)
        if data:
            buf = carry + data if carry else data
            cut = buf.rfind(NEWLINE)
            if cut < 0:
                carry = buf
                continue
            part, carry = buf[:cut], buf[cut + 1 :]
        elif carry:
            part, carry = carry, b""
        else:
            break
        bad: FileFormatError | None = None
        text: str | None
        try:
            text = part.decode("utf-8")
        except UnicodeDecodeError as exc:
            good = part.rfind(NEWLINE, 0, exc.start) + 1  # the start of the line with the bad bytes
            bad_line = number + part.count(NEWLINE, 0, good)
            bad = FileFormatError(f"line {bad_line}: not UTF-8 ({exc.reason} at byte {exc.start - good})")
            text = part[: good - 1].decode("utf-8") if good else None
        if text is not None:
            lines = text.split("\n")
            if number == 1 and lines[0].startswith("\ufeff"):
                lines[0] = lines[0][1:]
            if not pending:
                pending_first = number
            number += len(lines)
            pending.extend(lines)
            while len(pending) >= size:
                run, pending = pending[:size], pending[size:]
                run_first, pending_first = pending_first, number - len(pending)
                yield run_first, run
                del run  # (the consumer has it; holding on would keep a chunk of lines alive)
        if bad is not None:
            if pending:
                yield pending_first, pending
            raise bad
        if not data:
            break
    if pending:
        yield pending_first, pending


def read_segments(
    stream: IO[bytes], fmt: str, size: int, progress: ReadProgress | None = None, *, select: Callable[[int], bool] | None = None
) -> Iterator[list[Segment] | None]:
    """A CSV (without quoted line breaks) or JSONL stream in chunks of about ``size`` records. With ``select``,
    only chunks ``k`` with ``select(k)`` are read into records; the others are ``None``."""
    runs = line_runs(stream, size, progress)
    if fmt not in ("csv", "jsonl"):
        raise FileFormatError(f"unknown format {fmt!r}: use csv or jsonl")
    columns: tuple[tuple[int, ...], int] | None = None
    for k, (first, lines) in enumerate(runs):
        if fmt == "csv" and columns is None:
            try:
                header = next(csv.reader([lines[0]]))
            except (StopIteration, csv.Error) as exc:
                raise FileFormatError(f"line 1: not a CSV header ({exc})") from None
            columns = csv_columns(header)
            lines, first = lines[1:], first + 1
        if select is not None and not select(k):
            yield None
            continue
        segments = csv_segments(lines, first, columns) if columns is not None else jsonl_segments(lines, first)
        del lines  # the segments hold the fields; the lines can go while the chunk is checked
        yield segments
        del segments
    if fmt == "csv" and columns is None:
        raise FileFormatError("the file is empty: a CSV export needs a header row")


def item_chunks(items: Iterable[Item], size: int) -> Iterator[list[Segment]]:
    """Records one by one, in chunks of ``size`` (one segment each). A ``FileFormatError`` of the reader comes
    after the chunk of the records read before it."""
    chunk: list[Item] = []
    try:
        for item in items:
            chunk.append(item)
            if len(chunk) >= size:
                yield [chunk]
                chunk = []
    except FileFormatError:
        if chunk:  # what was read before the damage is stored (and reported)
            yield [chunk]
        raise
    if chunk:
        yield [chunk]


def file_chunks(stream: IO[bytes], fmt: str, size: int, progress: ReadProgress | None = None, *, by_lines: bool) -> Iterator[list[Segment]]:
    """A CSV or JSONL stream in chunks of about ``size`` records: a block of lines at a time (``by_lines``: the
    stream holds no quoted line breaks), else record by record."""
    if by_lines:
        return read_segments(stream, fmt, size, progress)  # type: ignore[return-value]  # no None without `select`
    return item_chunks(reader_for(fmt)(stream, progress), size)


def reader_for(fmt: str) -> Callable[[IO[bytes], ReadProgress | None], Iterator[Item]]:
    if fmt == "csv":
        return read_csv
    if fmt == "jsonl":
        return read_jsonl
    raise FileFormatError(f"unknown format {fmt!r}: use csv or jsonl")


def read_text_records(text: str, fmt: str) -> Iterator[Item]:
    """Convenience for tests and small inputs."""
    return reader_for(fmt)(io.BytesIO(text.encode()), None)
