"""A reader and validator of DATEV-Format (EXTF) files: the header line, the column headings, the field count of
every line and the formats of the fields DATEV checks on import (amount, Soll/Haben flag, accounts, BU key,
document date, document number, text lengths, quoting of text and number columns).

:func:`read_extf` parses (structural faults raise :class:`ExtfFormatError`); :func:`check_extf` lists every
format problem; :func:`validate_extf` does both and raises with all problems. The tests run it on Settle's output
and on real EXTF samples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from gateway.accounting.columns import BUCHUNGSSTAPEL_COLUMNS, DEBITOREN_KREDITOREN_COLUMNS, Column
from gateway.accounting.errors import ExtfFormatError

HEADER_FIELDS = 31
#: data category -> format name (header field 4)
CATEGORIES = {
    21: "Buchungsstapel",
    16: "Debitoren/Kreditoren",
    20: "Kontenbeschriftungen",
    46: "Zahlungsbedingungen",
    48: "Diverse Adressen",
    65: "Wiederkehrende Buchungen",
}
#: (category, format version) -> the columns Settle knows for it (heading count and text/number types).
KNOWN_COLUMNS: dict[tuple[int, int], tuple[Column, ...]] = {(21, 13): BUCHUNGSSTAPEL_COLUMNS, (16, 5): DEBITOREN_KREDITOREN_COLUMNS}
_AMOUNT = re.compile(r"^\d{1,10},\d{2}$")
_ACCOUNT = re.compile(r"^\d{1,9}$")
_BU = re.compile(r"^\d{1,4}$")
_DOCUMENT = re.compile(r"^[A-Z0-9$&%*+\-/]{0,36}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Field:
    """One field as written: its value (quotes removed, doubled quotes undone) and whether it was quoted."""

    value: str
    quoted: bool


@dataclass(frozen=True)
class ExtfProblem:
    """One format problem: line number (1 = header), column (1-based, 0 for the whole line) and what is wrong."""

    line: int
    column: int
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class ExtfFile:
    """A parsed EXTF file."""

    header: tuple[Field, ...]
    headings: tuple[str, ...]
    rows: tuple[tuple[Field, ...], ...]
    crlf: bool = True

    def header_value(self, position: int) -> str:
        """Header field ``position`` (1-based, as in EXTF_header_fields.csv)."""
        return self.header[position - 1].value

    @property
    def category(self) -> int:
        return int(self.header_value(3))

    @property
    def format_name(self) -> str:
        return self.header_value(4)

    @property
    def format_version(self) -> int:
        return int(self.header_value(5))

    @property
    def account_length(self) -> int:
        return int(self.header_value(14))

    @property
    def period(self) -> tuple[date, date] | None:
        """Datum vom / Datum bis, when given."""
        low, high = _date_or_none(self.header_value(15)), _date_or_none(self.header_value(16))
        return (low, high) if low and high else None

    def column(self, heading: str) -> int:
        """0-based index of the column ``heading``."""
        return self.headings.index(heading)

    def values(self, heading: str) -> list[str]:
        """The values of column ``heading`` in every data line."""
        index = self.column(heading)
        return [row[index].value for row in self.rows]


def read_extf(source: bytes | Path | str) -> ExtfFile:
    """Parse an EXTF file (bytes, or a path) decoded as Windows-1252."""
    data = Path(source).read_bytes() if isinstance(source, Path | str) else source
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise ExtfFormatError(f"byte {exc.start}: {data[exc.start : exc.end]!r} is not Windows-1252") from None
    crlf = text.count("\n") == text.count("\r\n")
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) < 2:
        raise ExtfFormatError("an EXTF file has a header line and a column heading line; this one has fewer lines")
    header = tuple(split_line(lines[0], 1))
    if not header or header[0].value not in ("EXTF", "DTVF"):
        raise ExtfFormatError(f'line 1: the header must start with "EXTF" or "DTVF", got {lines[0][:20]!r}')
    if len(header) != HEADER_FIELDS:
        raise ExtfFormatError(f"line 1: the header has {len(header)} fields, header version 700 has {HEADER_FIELDS}")
    headings = tuple(field.value for field in split_line(lines[1], 2))
    rows = tuple(tuple(split_line(line, number)) for number, line in enumerate(lines[2:], start=3))
    return ExtfFile(header, headings, rows, crlf)


def split_line(line: str, number: int) -> list[Field]:
    """The fields of one line: ``;`` separated, text in double quotes with embedded quotes doubled."""
    fields: list[Field] = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i] == '"':
            parts, j = [], i + 1
            while True:
                k = line.find('"', j)
                if k < 0:
                    raise ExtfFormatError(f"line {number}: a quoted field is not closed (column {len(fields) + 1})")
                parts.append(line[j:k])
                if k + 1 < n and line[k + 1] == '"':
                    parts.append('"')
                    j = k + 2
                    continue
                i = k + 1
                break
            fields.append(Field("".join(parts), True))
            if i == n:
                return fields
            if line[i] != ";":
                raise ExtfFormatError(f"line {number}: text after a closing quote in column {len(fields)}")
            i += 1
        else:
            k = line.find(";", i)
            value = line[i:] if k < 0 else line[i:k]
            if '"' in value:
                raise ExtfFormatError(f"line {number}: a quote inside the unquoted column {len(fields) + 1}: {value!r}")
            fields.append(Field(value, False))
            if k < 0:
                return fields
            i = k + 1


def check_extf(extf: ExtfFile) -> list[ExtfProblem]:
    """Every format problem of ``extf``; an empty list for a file DATEV's import takes."""
    problems: list[ExtfProblem] = []
    add = problems.append
    if not extf.crlf:
        add(ExtfProblem(0, 0, "lines must end in CRLF"))
    problems.extend(_header_problems(extf))
    if any(p.line == 1 and p.column in (3, 5, 14) for p in problems):
        return problems
    category, version = extf.category, extf.format_version
    known = KNOWN_COLUMNS.get((category, version))
    if known is not None and extf.headings != tuple(c.heading for c in known):
        add(ExtfProblem(2, 0, f"the column headings are not those of {extf.format_name} format version {version}"))
        known = None
    if len(extf.rows) > 99_999:
        add(ExtfProblem(0, 0, f"{len(extf.rows)} data lines; DATEV takes at most 99999 per file"))
    for number, row in enumerate(extf.rows, start=3):
        if len(row) != len(extf.headings):
            add(ExtfProblem(number, 0, f"{len(row)} fields, the column headings have {len(extf.headings)}"))
            continue
        for position, field in enumerate(row, start=1):
            if _CONTROL.search(field.value):
                add(ExtfProblem(number, position, "control character in a field"))
            if known is not None and field.value:
                if known[position - 1].text and not field.quoted:
                    add(ExtfProblem(number, position, f"{known[position - 1].heading}: text must be in double quotes"))
                if not known[position - 1].text and field.quoted:
                    add(ExtfProblem(number, position, f"{known[position - 1].heading}: a number must not be quoted"))
        if category == 21:
            problems.extend(_booking_problems(extf, number, row))
        elif category in (16, 20):
            problems.extend(_account_problems(extf, number, row, personal=category == 16))
    return problems


def validate_extf(source: bytes | Path | str) -> ExtfFile:
    """:func:`read_extf` and :func:`check_extf`; raises :class:`ExtfFormatError` listing every problem."""
    extf = read_extf(source)
    problems = check_extf(extf)
    if problems:
        shown = "; ".join(str(p) for p in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise ExtfFormatError(f"not a valid EXTF file: {shown}{more}")
    return extf


def _header_problems(extf: ExtfFile) -> list[ExtfProblem]:
    problems: list[ExtfProblem] = []

    def bad(position: int, message: str) -> None:
        problems.append(ExtfProblem(1, position, message))

    value = extf.header_value
    if value(2) != "700":
        bad(2, f"Versionsnummer {value(2)!r}: Settle reads header version 700")
    if not value(3).isdigit() or int(value(3)) not in CATEGORIES:
        bad(3, f"Formatkategorie {value(3)!r} is not one of {sorted(CATEGORIES)}")
    elif value(4) != CATEGORIES[int(value(3))]:
        bad(4, f"Formatname {value(4)!r} does not match category {value(3)} ({CATEGORIES[int(value(3))]!r})")
    if not value(5).isdigit():
        bad(5, f"Formatversion {value(5)!r} is not a number")
    if not re.fullmatch(r"\d{17}", value(6)):
        bad(6, f"Erzeugt am {value(6)!r} is not YYYYMMDDHHMMSSFFF")
    if not value(11).isdigit() or not 1001 <= int(value(11)) <= 9999999:
        bad(11, f"Beraternummer {value(11)!r} is not 1001..9999999")
    if not value(12).isdigit() or not 1 <= int(value(12)) <= 99999:
        bad(12, f"Mandantennummer {value(12)!r} is not 1..99999")
    fiscal = _date_or_none(value(13))
    if fiscal is None:
        bad(13, f"WJ-Beginn {value(13)!r} is not a date YYYYMMDD")
    if not value(14).isdigit() or not 4 <= int(value(14)) <= 8:
        bad(14, f"Sachkontenlänge {value(14)!r} is not 4..8")
    if value(3) == "21":
        low, high = _date_or_none(value(15)), _date_or_none(value(16))
        if low is None:
            bad(15, f"Datum vom {value(15)!r} is not a date YYYYMMDD")
        if high is None:
            bad(16, f"Datum bis {value(16)!r} is not a date YYYYMMDD")
        if low and high:
            if low > high:
                bad(16, f"Datum bis {value(16)} is before Datum vom {value(15)}")
            if low.year != high.year:
                bad(16, "Datum vom and Datum bis must be in the same calendar year")
            if fiscal and not (fiscal <= low and high < date(fiscal.year + 1, fiscal.month, fiscal.day)):
                bad(15, f"the period {value(15)}..{value(16)} is not within the fiscal year starting {value(13)}")
        if value(19) not in ("", "1", "2"):
            bad(19, f"Buchungstyp {value(19)!r} is not 1 or 2")
        if value(21) not in ("", "0", "1"):
            bad(21, f"Festschreibung {value(21)!r} is not 0 or 1")
        if value(22) and not re.fullmatch(r"[A-Z]{3}", value(22)):
            bad(22, f"WKZ {value(22)!r} is not an ISO 4217 code")
    if len(value(17)) > 30:
        bad(17, "Bezeichnung is longer than 30 characters")
    if value(27) and value(27) not in ("03", "04"):
        bad(27, f"Sachkontenrahmen {value(27)!r}: Settle knows SKR 03 and 04")
    return problems


def _booking_problems(extf: ExtfFile, number: int, row: tuple[Field, ...]) -> list[ExtfProblem]:
    problems: list[ExtfProblem] = []
    length = extf.account_length

    def bad(position: int, message: str) -> None:
        problems.append(ExtfProblem(number, position, message))

    amount = row[0].value
    if not _AMOUNT.match(amount):
        bad(1, f"Umsatz {amount!r} is not a positive amount with a decimal comma (e.g. 1190,00)")
    elif amount.replace(",", "").strip("0") == "":
        bad(1, "Umsatz is 0,00")
    if row[1].value not in ("S", "H"):
        bad(2, f"Soll/Haben-Kennzeichen {row[1].value!r} is not S or H")
    if row[2].value and not re.fullmatch(r"[A-Z]{3}", row[2].value):
        bad(3, f"WKZ Umsatz {row[2].value!r} is not an ISO 4217 code")
    for position, name in ((7, "Konto"), (8, "Gegenkonto")):
        account = row[position - 1].value
        if not _ACCOUNT.match(account):
            bad(position, f"{name} {account!r} is not an account number")
        elif len(account) > length + 1:
            bad(position, f"{name} {account} is longer than the account length {length} allows ({length + 1} for personal accounts)")
    if row[8].value and not _BU.match(row[8].value):
        bad(9, f"BU-Schlüssel {row[8].value!r} is not 1 to 4 digits")
    document_date = row[9].value
    period = extf.period
    if not re.fullmatch(r"\d{3,4}", document_date):
        bad(10, f"Belegdatum {document_date!r} is not TTMM")
    elif period is not None:
        day, month = int(document_date[:-2]), int(document_date[-2:])
        found = None
        for year in {period[0].year, period[1].year}:
            try:
                candidate = date(year, month, day)
            except ValueError:
                continue
            if period[0] <= candidate <= period[1]:
                found = candidate
        if found is None:
            bad(10, f"Belegdatum {document_date} is not a day within the header's period {period[0]}..{period[1]}")
    if not _DOCUMENT.match(row[10].value):
        bad(11, f"Belegfeld 1 {row[10].value!r} has more than 36 characters or characters other than A-Z 0-9 $ & % * + - /")
    if len(row[11].value) > 12:
        bad(12, "Belegfeld 2 is longer than 12 characters")
    if len(row) > 13 and len(row[13].value) > 60:
        bad(14, "Buchungstext is longer than 60 characters")
    return problems


def _account_problems(extf: ExtfFile, number: int, row: tuple[Field, ...], *, personal: bool) -> list[ExtfProblem]:
    account, length = row[0].value, extf.account_length
    if not _ACCOUNT.match(account):
        return [ExtfProblem(number, 1, f"Konto {account!r} is not an account number")]
    if personal and len(account) != length + 1:
        return [ExtfProblem(number, 1, f"Konto {account}: personal accounts have {length + 1} digits with account length {length}")]
    if not personal and len(account) > length:
        return [ExtfProblem(number, 1, f"Konto {account} is longer than the account length {length}")]
    return []


def _ymd(value: str) -> date:
    return date(int(value[:4]), int(value[4:6]), int(value[6:8]))


def _date_or_none(value: str) -> date | None:
    if not re.fullmatch(r"\d{8}", value):
        return None
    try:
        return _ymd(value)
    except ValueError:
        return None
