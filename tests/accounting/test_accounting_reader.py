"""The EXTF reader/validator: on our own hand-written fixture (always), on the real samples in
../shared/conformance/datev (when that folder exists), and on broken files."""

from __future__ import annotations

from pathlib import Path

import pytest
from accounting_samples import CORPUS, FIXTURES

from gateway.accounting import ExtfFormatError, check_extf, read_extf, validate_extf

OWN = FIXTURES / "own_EXTF_Buchungsstapel_v13.csv"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/conformance/datev is not present")


def _corpus_files() -> list[Path]:
    """Every EXTF file of the corpus (the column and header descriptions there are plain CSV tables)."""
    if not CORPUS.is_dir():
        return []
    return [path for path in sorted(CORPUS.glob("*.csv")) if path.read_bytes().startswith((b'"EXTF"', b'"DTVF"'))]


def test_own_fixture_is_valid() -> None:
    extf = validate_extf(OWN)
    assert (extf.category, extf.format_version, len(extf.headings), len(extf.rows)) == (21, 13, 125, 4)
    assert extf.values("Belegdatum") == ["105", "3101", "1502", "3108"]
    assert extf.values("Buchungstext")[1] == 'Reverse charge "AE" Österreich'
    assert extf.values("BU-Schlüssel")[3] == "2"


@needs_corpus
@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: p.name)
def test_real_samples_are_valid(path: Path) -> None:
    extf = read_extf(path)
    assert check_extf(extf) == []
    assert all(len(row) == len(extf.headings) for row in extf.rows)


@needs_corpus
def test_the_corpus_column_list_is_ours() -> None:
    """The v13 column headings Settle writes are the ones in the conformance description, in order."""
    from gateway.accounting.columns import BUCHUNGSSTAPEL_COLUMNS

    lines = (CORPUS / "EXTF_Buchungsstapel_columns_v13.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert [line.split(";")[1] for line in lines] == [c.heading for c in BUCHUNGSSTAPEL_COLUMNS]
    header = (CORPUS / "EXTF_header_fields.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert len(header) == 31


@needs_corpus
def test_datevs_own_sample_header_is_valid() -> None:
    """The header line DATEV prints on developer.datev.de (quoted in the corpus README) with our v13 headings."""
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    header = next(line.strip() for line in readme.splitlines() if line.strip().startswith('"EXTF";700;21'))
    headings = OWN.read_bytes().split(b"\r\n")[1]
    extf = read_extf(header.encode("cp1252") + b"\r\n" + headings + b"\r\n")
    assert check_extf(extf) == []


def _mutate(line: int, column: int, value: str) -> bytes:
    lines = OWN.read_bytes().decode("cp1252").split("\r\n")
    fields = lines[line - 1].split(";")
    fields[column - 1] = value
    lines[line - 1] = ";".join(fields)
    return "\r\n".join(lines).encode("cp1252")


@pytest.mark.parametrize(
    ("line", "column", "value", "problem"),
    [
        (3, 1, "1.190,00", "Umsatz '1.190,00' is not a positive amount"),
        (3, 1, "1190.00", "is not a positive amount"),
        (3, 1, "-5,00", "is not a positive amount"),
        (3, 1, "0,00", "Umsatz is 0,00"),
        (3, 1, '"1190,00"', "a number must not be quoted"),
        (3, 2, '"X"', "Soll/Haben-Kennzeichen 'X' is not S or H"),
        (3, 7, "1000000", "Konto 1000000 is longer than the account length 4"),
        (3, 8, "84a0", "Gegenkonto '84a0' is not an account number"),
        (3, 9, '"12345"', "BU-Schlüssel '12345'"),
        (3, 10, "3102", "Belegdatum 3102 is not a day within"),
        (3, 10, "0109", "Belegdatum 0109 is not a day within"),
        (3, 10, "1.1", "Belegdatum '1.1' is not TTMM"),
        (3, 11, '"re 1"', "Belegfeld 1 're 1'"),
        (3, 14, '"' + "x" * 61 + '"', "Buchungstext is longer than 60"),
        (3, 14, "Text", "text must be in double quotes"),
        (1, 2, "510", "Versionsnummer '510'"),
        (1, 4, '"Debitoren/Kreditoren"', "does not match category 21"),
        (1, 6, "2024", "Erzeugt am"),
        (1, 11, "99", "Beraternummer '99'"),
        (1, 12, "0", "Mandantennummer '0'"),
        (1, 16, "20250131", "same calendar year"),
        (1, 15, "20240931", "Datum vom '20240931' is not a date"),
        (1, 21, "2", "Festschreibung '2'"),
        (1, 22, '"Euro"', "WKZ 'Euro'"),
    ],
)
def test_format_problems_are_found(line: int, column: int, value: str, problem: str) -> None:
    problems = check_extf(read_extf(_mutate(line, column, value)))
    assert any(problem in str(p) and f"line {line}, column {column}" in str(p) for p in problems), problems


def test_a_line_with_a_wrong_field_count_is_found() -> None:
    data = OWN.read_bytes().replace(b'"RE-2024-0001"', b'"RE-2024-0001";', 1)
    problems = check_extf(read_extf(data))
    assert [str(p) for p in problems] == ["line 3: 126 fields, the column headings have 125"]
    with pytest.raises(ExtfFormatError, match="line 3: 126 fields"):
        validate_extf(data)


def test_bare_line_feeds_are_found() -> None:
    assert any("CRLF" in str(p) for p in check_extf(read_extf(OWN.read_bytes().replace(b"\r\n", b"\n"))))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'"XTF";700\r\nKonto\r\n', 'must start with "EXTF"'),
        (b'"EXTF";700;21\r\nKonto\r\n', "header has 3 fields"),
        (b'"EXTF";700;21;"Buchungsstapel"\r\n', "fewer lines"),
        ('"EXTF";"Müller'.encode("cp1252") + b"\r\nx\r\n", "not closed"),
        (b'"EXTF"x;700\r\nKonto\r\n', "text after a closing quote"),
        (b'"EXTF";7"00\r\nKonto\r\n', "a quote inside the unquoted column 2"),
        (b'"EXTF";\x81\r\nKonto\r\n', "is not Windows-1252"),
    ],
)
def test_structural_faults_raise(data: bytes, message: str) -> None:
    with pytest.raises(ExtfFormatError, match=message):
        read_extf(data)
