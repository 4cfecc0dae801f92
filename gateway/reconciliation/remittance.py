"""Remittance advices (Zahlungsavis): which invoices a payer's transfer pays, read from the PDF it sent.

:func:`read_advice` takes the bytes of a PDF and gives a :class:`RemittanceAdvice`: the payer, the advice's date,
the total, and one :class:`~gateway.reconciliation.model.RemittanceRef` per invoice (or credit note) with the amount
paid for it. Pages with a text layer are read with pypdf (layout mode, so a table row stays one line); pages without
one (scans) are rasterised with poppler's ``pdftoppm`` at 300 dpi and read by Tesseract with German and English data
(``tools/ensure-system`` installs both). Text from OCR is repaired where OCR typically errs in numbers (``O``/``0``,
``l``/``I``/``1``, ``S``/``5``, ``B``/``8``, odd dashes) before the same parser reads it.

What is found:

* invoice numbers: Settle's own ``RE-YYYY-NNNNNN`` (also with OCR confusions or the separators missing), labelled
  numbers (``Rechnungsnr. 4711``, ``Invoice no. A-17``), and prefixed numbers such as ``INV-10023`` or ``AR/2026/12``;
  ISO 11649 creditor references (``RF18 5390 0754 7034``) with valid check digits;
* amounts in German and English notation (``1.234,50`` / ``1,234.50`` / ``1234.50``, with or without ``EUR``/``€``);
  on a row with several amounts the paid one (the column headed ``Zahlbetrag``/``Paid`` when the header says so, else
  the last one that is not a discount); a credit note (``Gutschrift``/``credit note`` or a negative amount) is an item
  of kind ``credit_note`` with its amount as a positive number, as camt's ``CREN`` documents are (the kind
  says it is deducted: :attr:`RemittanceAdvice.items_total` subtracts it);
* the total (``Summe``, ``Gesamtbetrag``, ``Total`` …; when none is printed, the sum of the items), the payer (a
  labelled field such as ``Zahler:``/``Payer:``, else the letterhead's first line) and the dates.

Anything that is not a readable remittance advice — not a PDF, a damaged or password-protected PDF, empty pages, a
document without an advice heading or without invoice numbers with amounts — raises :class:`RemittanceError` naming
the file and the problem. A missing OCR tool is a :class:`~settle.errors.ToolchainError` (the file may be fine).
Money is ``int`` minor units; ``Decimal`` only while parsing.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pypdf import PageObject, PasswordType, PdfReader
from pypdf.errors import DependencyError
from rapidfuzz.distance import Levenshtein

from gateway.banking.references import find_creditor_references
from gateway.reconciliation.model import RemittanceRef
from settle.errors import ToolchainError, ValidationError
from settle.money import format_minor

TextSource = Literal["text", "ocr"]

#: More pages than this is not an advice but a mistake (or an attack on the OCR's time).
MAX_PAGES = 50
MAX_OCR_PAGES = 10
#: Resolution for rasterising scanned pages: Tesseract reads 10 pt text reliably from 300 dpi.
OCR_DPI = 300
OCR_LANGUAGES = "deu+eng"
#: Seconds Tesseract may take for one page.
OCR_TIMEOUT = 120
#: A page with fewer visible characters than this in its text layer is treated as a scan.
MIN_TEXT_CHARS = 20


class RemittanceError(ValidationError):
    """A remittance advice cannot be read: not a PDF, damaged, encrypted, empty, or not a remittance advice."""


@dataclass(frozen=True)
class RemittanceAdvice:
    """What a remittance advice says: who pays, when, how much in all, and how much for each invoice.

    ``total`` and every item's ``amount`` are minor units of ``currency``; item amounts are never negative, a
    ``credit_note`` item is deducted from the invoices. ``text_source`` is ``"ocr"`` when any page was read by OCR.
    ``total_printed`` is false when the advice prints no total and ``total`` is the sum of the items. ``notes`` are
    facts a reviewer should see (e.g. the items do not add up to the printed total).
    """

    payer_name: str | None
    advice_date: date | None
    total: int
    currency: str
    items: tuple[RemittanceRef, ...]
    text_source: TextSource
    payment_date: date | None = None
    total_printed: bool = True
    notes: tuple[str, ...] = ()
    source: str = ""

    @property
    def items_total(self) -> int:
        """Sum of the items' amounts (credit notes subtract), in minor units."""
        return _signed_total(self.items)

    @property
    def adds_up(self) -> bool:
        """Whether the advice prints a total and its items add up to it exactly: only then is the split safe to book
        without a person (a misread digit, above all from OCR, breaks the sum)."""
        return self.total_printed and self.items_total == self.total

    @property
    def invoice_numbers(self) -> tuple[str, ...]:
        """The referenced documents' numbers in the advice's order."""
        return tuple(item.reference for item in self.items)


# -- entry point ---------------------------------------------------------------------------------------------------


def read_advice(data: bytes, name: str = "") -> RemittanceAdvice:
    """The remittance advice in the PDF ``data`` (``name`` is the file name for messages and ``source``)."""
    label = name or "<data>"
    pages, source = _page_texts(data, label)
    text = "\n".join(pages)
    return _parse(text, label, source, name)


def _fail(label: str, problem: str) -> RemittanceError:
    return RemittanceError(f"remittance advice {label!r}: {problem}")


# -- PDF to text ---------------------------------------------------------------------------------------------------


def _page_texts(data: bytes, label: str) -> tuple[list[str], TextSource]:
    if not isinstance(data, bytes | bytearray) or not data.strip():
        raise _fail(label, "the file is empty")
    if b"%PDF-" not in bytes(data[:1024]):
        start = bytes(data[:8])
        raise _fail(label, f"not a PDF (it starts with {start!r}, a PDF with %PDF-); send the advice as a PDF file")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            _decrypt(reader, label)
        count = len(reader.pages)
    except RemittanceError:
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged files: all mean the same to the sender
        raise _fail(label, f"damaged PDF ({type(exc).__name__}: {exc}); ask the payer to send it again") from exc
    if count == 0:
        raise _fail(label, "the PDF has no pages")
    if count > MAX_PAGES:
        raise _fail(label, f"the PDF has {count} pages; a remittance advice has at most {MAX_PAGES}")
    texts: list[str | None] = []
    blank: list[int] = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = page.extract_text(extraction_mode="layout") or ""
            has_images = bool(_page_has_images(page))
        except Exception as exc:  # as above: a damaged page stream
            raise _fail(label, f"page {number} cannot be read ({type(exc).__name__}: {exc})") from exc
        if _visible(text) >= MIN_TEXT_CHARS:
            texts.append(text)
        elif has_images:
            texts.append(None)  # a scan: OCR below
        else:
            texts.append(text)
            if not _visible(text):
                blank.append(number)
    if len(blank) == count:
        raise _fail(label, "every page is empty (no text and no scanned image)")
    scanned = [number for number, text in enumerate(texts, start=1) if text is None]
    if not scanned:
        return [text or "" for text in texts], "text"
    if len(scanned) > MAX_OCR_PAGES:
        raise _fail(label, f"{len(scanned)} scanned pages; at most {MAX_OCR_PAGES} are read by OCR")
    ocr = _ocr_pages(data, scanned, label)
    pages = [text if text is not None else ocr[number] for number, text in enumerate(texts, start=1)]
    if not any(_visible(ocr[number]) for number in scanned) and all(_visible(text or "") == 0 for text in texts):
        raise _fail(label, "OCR found no text on the scanned page(s): a blank or unreadable scan")
    return pages, "ocr"


def _decrypt(reader: PdfReader, label: str) -> None:
    """Opens a PDF protected only against changes (empty user password); a password to open it is an error."""
    try:
        opened = reader.decrypt("") != PasswordType.NOT_DECRYPTED
    except DependencyError:
        opened = False  # AES without the cryptography package: cannot be opened here either way
    if not opened:
        raise _fail(label, "the PDF is encrypted with a password; ask the payer for an unprotected copy")


def _page_has_images(page: PageObject) -> bool:
    resources = page.get("/Resources")
    if resources is None:
        return False
    resources = resources.get_object()
    xobjects = resources.get("/XObject")
    if xobjects is None:
        return False
    xobjects = xobjects.get_object()
    return any(xobjects[key].get_object().get("/Subtype") in ("/Image", "/Form") for key in xobjects)


def _visible(text: str) -> int:
    return sum(1 for char in text if not char.isspace())


def _ocr_pages(data: bytes, numbers: list[int], label: str) -> dict[int, str]:
    """Page number → OCR text, rasterised by pdftoppm and read by Tesseract (German and English)."""
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        raise ToolchainError("pdftoppm (poppler-utils) not found: it rasterises scanned remittance advices; run tools/ensure-system")
    try:
        import pytesseract  # type: ignore[import-untyped]  # no types, no stub package
    except ImportError:  # pragma: no cover - a project dependency
        raise ToolchainError("pytesseract not installed: run make setup") from None
    from PIL import Image, ImageFilter

    try:
        languages = set(pytesseract.get_languages(config=""))
    except pytesseract.TesseractNotFoundError:
        raise ToolchainError("tesseract not found: it reads scanned remittance advices; run tools/ensure-system") from None
    missing = [lang for lang in OCR_LANGUAGES.split("+") if lang not in languages]
    if missing:
        raise ToolchainError(f"tesseract has no language data for {', '.join(missing)}: run tools/ensure-system")
    found: dict[int, str] = {}
    with tempfile.TemporaryDirectory(prefix="settle-advice-") as folder:
        pdf = Path(folder, "advice.pdf")
        pdf.write_bytes(data)
        for number in numbers:
            out = Path(folder, f"page-{number}")
            command = [pdftoppm, "-r", str(OCR_DPI), "-gray", "-png", "-singlefile", "-f", str(number), "-l", str(number)]
            result = subprocess.run([*command, str(pdf), str(out)], capture_output=True, timeout=OCR_TIMEOUT, check=False)
            image_path = out.with_suffix(".png")
            if result.returncode != 0 or not image_path.exists():
                problem = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no image"]
                raise _fail(label, f"page {number} cannot be rasterised for OCR ({problem[0]})")
            with Image.open(image_path) as scan:
                # A 3x3 median removes a scanner's specks (salt and pepper) that Tesseract reads as dots and commas,
                # and leaves 300 dpi strokes intact. --psm 6: one block of text, so a table row stays one line.
                image = scan.convert("L").filter(ImageFilter.MedianFilter(3))
                try:
                    found[number] = pytesseract.image_to_string(image, lang=OCR_LANGUAGES, config="--psm 6", timeout=OCR_TIMEOUT)
                except RuntimeError as exc:  # pytesseract's timeout
                    raise _fail(label, f"OCR of page {number} took longer than {OCR_TIMEOUT} s ({exc})") from None
    return {number: _repair_ocr(text) for number, text in found.items()}


# OCR confusions inside numbers: a run of digits and look-alikes with at least two real digits is a number.
_LOOKALIKE = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "I": "1", "l": "1", "|": "1", "S": "5", "B": "8", "Z": "2"})
_NUMBERISH = re.compile(r"(?<![A-Za-zÄÖÜäöüß])[0-9OoDQIl|SBZ][0-9OoDQIl|SBZ.,']*[0-9OoDQIl|SBZ](?![A-Za-zÄÖÜäöüß])")


def _repair_ocr(text: str) -> str:
    def fix(match: re.Match[str]) -> str:
        run = match.group(0)
        digits = sum(char.isdigit() for char in run)
        lookalikes = sum(char.isalpha() or char == "|" for char in run)
        return run.translate(_LOOKALIKE) if digits >= 2 and digits >= lookalikes else run

    text = re.sub(r"(?<=\d)\s?([.,])\s(?=\d{2}(?!\d))", r"\1", text)  # "1.234, 50" → "1.234,50"
    return _NUMBERISH.sub(fix, text)


# -- text to advice ------------------------------------------------------------------------------------------------

_DASHES = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u00ad": "-"})

# Headings and phrases that make a document a remittance advice. Long compound words are matched fuzzily (OCR).
_HEADINGS_FUZZY = (
    "zahlungsavis",
    "überweisungsavis",
    "zahlungsankündigung",
    "zahlungsbenachrichtigung",
    "zahlungsmitteilung",
    "remittance advice",
    "payment advice",
    "payment notification",
    "zahlungsaviso",
)
_HEADINGS_EXACT = re.compile(
    r"\b(?:avis|remittance|payment notice|wir haben (?:folgende|die folgenden) rechnungen|"
    r"we have (?:paid|settled|transferred)|following invoices? (?:has|have) been paid|zahlungseingang avisiert)\b",
    re.IGNORECASE,
)

_MONTHS = {
    "januar": 1, "jänner": 1, "january": 1, "jan": 1, "februar": 2, "february": 2, "feb": 2, "märz": 3, "maerz": 3,
    "march": 3, "mar": 3, "mär": 3, "april": 4, "apr": 4, "mai": 5, "may": 5, "juni": 6, "june": 6, "jun": 6,
    "juli": 7, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9, "sept": 9, "sep": 9, "oktober": 10,
    "october": 10, "okt": 10, "oct": 10, "november": 11, "nov": 11, "dezember": 12, "december": 12, "dez": 12, "dec": 12,
}  # fmt: skip
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE = re.compile(
    r"(?<![\d.])(?P<d1>\d{1,2})\.\s?(?P<m1>\d{1,2})\.\s?(?P<y1>\d{4}|\d{2})(?![\d])"
    r"|(?<![\d/])(?P<a2>\d{1,2})/(?P<b2>\d{1,2})/(?P<y2>\d{4}|\d{2})(?![\d/])"
    r"|(?<![\d-])(?P<y3>\d{4})-(?P<m3>\d{2})-(?P<d3>\d{2})(?![\d-])"
    r"|(?<![\d-])(?P<d4>\d{1,2})-(?P<m4>\d{1,2})-(?P<y4>\d{4})(?![\d-])"
    rf"|(?<!\d)(?P<d5>\d{{1,2}})\.?\s+(?P<mn5>{_MONTH})\.?,?\s+(?P<y5>\d{{4}})(?!\d)"
    rf"|\b(?P<mn6>{_MONTH})\.?\s+(?P<d6>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y6>\d{{4}})(?!\d)",
    re.IGNORECASE,
)
_AMOUNT = re.compile(
    r"(?<![\w.,'/-])(?P<sign>-\s?)?"
    r"(?P<int>\d{1,3}(?:[.,'’]\d{3})+|\d+)(?P<dec>[.,]\d{2})"
    r"(?!\d|[.,]\d|\s?%)(?P<trail>-(?![\w]))?"
)
_CURRENCY = re.compile(r"\b(EUR|USD|GBP|CHF)\b|([€$£])")
_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP"}

_SETTLE_NUMBER = re.compile(r"(?<![A-Za-z0-9])(?:RE|Re|R3)\s?[-_.]?\s?(?P<year>(?:19|20)\d{2})\s?[-_.]?\s?(?P<seq>\d{6})(?![0-9])")
_LABEL = (
    r"(?:(?:rechnungs?|beleg|gutschrifts?|invoice|inv\.?|credit\s+note|document)(?:\s*-?\s*(?:nummer|nr\.?|no\.?|number|#))?"
    r"|(?:re|rg)\.?\s*-?\s*nr\.?)"
)
_LABELLED = re.compile(rf"\b{_LABEL}\s*[:#]?\s*(?P<ref>[A-Za-z0-9][A-Za-z0-9/_.-]{{1,34}})", re.IGNORECASE)
_PREFIXED = re.compile(r"(?<![\w/-])(?P<ref>[A-Z]{1,6}[-/_.]?\d[\d/-]{2,}[A-Z0-9]?)(?![\w/-])")
_LEADING_NUMBER = re.compile(r"^\s*(?:\d{1,3}[.)]?\s+)?(?P<ref>\d{4,12})(?=\s)")
_NOT_A_REFERENCE = re.compile(r"^(?:[A-Z]{2}\d{2}[A-Z0-9]{10,}|[A-Z]{2}\d{8,}|RF\d{2}[A-Z0-9]+)$")  # IBAN, VAT id, RF

_CREDIT_NOTE = re.compile(r"\b(?:gutschrift|credit\s*note|credit\s*memo|gutschr\.)", re.IGNORECASE)
_TOTAL = re.compile(
    r"\b(?:summe|gesamt\w*|endbetrag|überweisungsbetrag|zahlbetrag\s+gesamt|total\w*|sum|amount\s+(?:paid|transferred)"
    r"|zahlungsbetrag|überwiesener\s+betrag)\b",
    re.IGNORECASE,
)
_SUBTOTAL = re.compile(r"\b(?:zwischensumme|subtotal|sub-total|übertrag|carried\s+forward|brought\s+forward)\b", re.IGNORECASE)
_DEDUCTION = re.compile(r"\b(?:skonto|abzug|abzüge|rabatt|discount|deduction|einbehalt\w*)\b", re.IGNORECASE)
_COLUMN = re.compile(
    r"\b(?P<paid>zahlbetrag|zahlungsbetrag|bezahlt|gezahlt|überwiesen|amount\s+paid|paid\s+amount|payment\s+amount|paid|payment)\b"
    r"|\b(?P<deduction>skonto|abzug|abzüge|rabatt|cash\s+discount|discount|deduction)\b"
    r"|\b(?P<gross>rechnungsbetrag|bruttobetrag|betrag|invoice\s+amount|gross\s+amount|gross|amount|open|offen)\b",
    re.IGNORECASE,
)
_PAYER_LABEL = re.compile(
    r"^\s*(?:zahler|auftraggeber(?:in)?|zahlungspflichtiger|absender|kunde|payer|remitter|paid\s+by|from|debtor|customer"
    r"|ordering\s+party)\s*:\s*(?P<name>\S.*?)\s*$",
    re.IGNORECASE,
)
_PAYEE_LABEL = re.compile(r"^\s*(?:an|to|empfänger|zahlungsempfänger|beneficiary|payee|recipient|creditor)\s*:", re.IGNORECASE)
_PAYMENT_DATE_LABEL = re.compile(
    r"\b(?:zahlungsdatum|ausführungsdatum|valuta(?:datum)?|wertstellung|überweisungsdatum|zahlungstermin|zahlung\s+am"
    r"|payment\s+date|value\s+date|execution\s+date|paid\s+on|date\s+of\s+payment)\s*:?\s*$",
    re.IGNORECASE,
)
_ADVICE_DATE_LABEL = re.compile(r"\b(?:avisdatum|datum|date|advice\s+date|erstellt\s+am|dated)\s*:?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class _Amount:
    start: int
    end: int
    value: int  # minor units, signed
    currency: str | None


def _parse(text: str, label: str, source: TextSource, name: str) -> RemittanceAdvice:
    text = unicodedata.normalize("NFC", text).translate(_DASHES).replace("\u00a0", " ").replace("\u202f", " ")
    lines = [line.rstrip() for line in text.splitlines()]
    if not _is_advice(lines):
        raise _fail(
            label,
            "not a remittance advice: no heading such as 'Zahlungsavis', 'Remittance advice' or 'Payment advice' "
            f"({'OCR' if source == 'ocr' else 'text layer'} read {_visible(text)} characters)",
        )
    items: list[RemittanceRef] = []
    seen: set[tuple[str, int | None]] = set()
    total: _Amount | None = None
    currencies: list[str] = []
    paid_column: tuple[int, int] | None = None  # (index of the paid column among amount columns, their count)
    payment_date: date | None = None
    advice_date: date | None = None
    first_date: date | None = None
    for line in lines:
        dates = list(_dates(line))
        masked = _mask(line, [(start, end) for start, end, _ in dates])
        settle_refs = [(m.start(), m.end(), f"RE-{m['year']}-{m['seq']}") for m in _SETTLE_NUMBER.finditer(masked)]
        masked = _mask(masked, [(start, end) for start, end, _ in settle_refs])
        amounts = _amounts(masked)
        currencies += [amount.currency for amount in amounts if amount.currency]
        for start, _end, day in dates:
            before = line[:start]
            if payment_date is None and _PAYMENT_DATE_LABEL.search(before):
                payment_date = day
            elif not amounts:  # a date on a row with amounts is an invoice's date
                first_date = first_date or day
                if advice_date is None and _ADVICE_DATE_LABEL.search(before):
                    advice_date = day
        if not amounts:
            columns = [_column_kind(m) for m in _COLUMN.finditer(masked)]
            if len(columns) >= 2 and "paid" in columns:
                paid_column = (columns.index("paid"), len(columns))
            continue
        if _TOTAL.search(masked) and not settle_refs and not _SUBTOTAL.search(masked):
            total = _pick(amounts, masked, None)
            continue
        refs = [ref for _, _, ref in settle_refs] or _other_references(_mask(masked, [(a.start, a.end) for a in amounts]))
        rf_refs = find_creditor_references(masked)
        if not refs and not rf_refs:
            continue
        amount = _pick(amounts, masked, paid_column).value
        credit = bool(_CREDIT_NOTE.search(masked)) or amount < 0
        kind = "credit_note" if credit else "invoice"
        paid = abs(amount)
        for index, ref in enumerate(refs):
            key = (ref, paid if index == 0 else None)
            if key not in seen:
                seen.add(key)
                items.append(RemittanceRef(ref, paid if index == 0 else None, kind))
        for rf in rf_refs:
            with_amount = not refs
            key = (rf, paid if with_amount else None)
            if key not in seen:
                seen.add(key)
                items.append(RemittanceRef(rf, paid if with_amount else None, "creditor_reference"))
    if not items:
        raise _fail(label, "a remittance advice, but it lists no invoice numbers with amounts that could be read")
    currency = (total.currency if total and total.currency else None) or _most_common(currencies) or "EUR"
    items_total = _signed_total(items)
    notes: list[str] = []
    if total is None:
        notes.append("no total printed: the total is the sum of the items")
    elif total.value != items_total:
        notes.append(f"the items add up to {format_minor(items_total, 2)} but the advice's total is {format_minor(total.value, 2)}")
    if len({c for c in currencies}) > 1:
        notes.append(f"several currencies: {', '.join(sorted(set(currencies)))}")
    if source == "ocr":
        notes.append("read by OCR: check the numbers against the scan when they do not match")
    return RemittanceAdvice(
        payer_name=_payer(lines),
        advice_date=advice_date or (first_date if first_date != payment_date else None),
        total=total.value if total else items_total,
        currency=currency,
        items=tuple(items),
        text_source=source,
        payment_date=payment_date,
        total_printed=total is not None,
        notes=tuple(notes),
        source=name,
    )


def _signed_total(items: tuple[RemittanceRef, ...] | list[RemittanceRef]) -> int:
    return sum(-item.amount if item.kind == "credit_note" else item.amount for item in items if item.amount is not None)


def _is_advice(lines: list[str]) -> bool:
    """Whether a heading or phrase says "remittance advice"; headings within a few OCR errors count too."""
    for line in lines:
        lowered = line.lower().strip()
        if not lowered:
            continue
        if _HEADINGS_EXACT.search(lowered):
            return True
        words = re.findall(r"[a-zäöüß0-9|]+", lowered)
        candidates = words + [f"{first} {second}" for first, second in zip(words, words[1:], strict=False)]
        for heading in _HEADINGS_FUZZY:
            allowed = max(1, len(heading) // 6)
            if any(abs(len(c) - len(heading)) <= allowed and Levenshtein.distance(heading, c) <= allowed for c in candidates):
                return True
    return False


def _dates(line: str) -> list[tuple[int, int, date]]:
    found = []
    for match in _DATE.finditer(line):
        groups = {key: value for key, value in match.groupdict().items() if value is not None}
        try:
            if "d1" in groups:
                day, month, year = int(groups["d1"]), int(groups["m1"]), int(groups["y1"])
            elif "a2" in groups:
                first, second, year = int(groups["a2"]), int(groups["b2"]), int(groups["y2"])
                day, month = (second, first) if second > 12 else (first, second)  # 12/31/2026 is American
            elif "y3" in groups:
                day, month, year = int(groups["d3"]), int(groups["m3"]), int(groups["y3"])
            elif "d4" in groups:
                day, month, year = int(groups["d4"]), int(groups["m4"]), int(groups["y4"])
            elif "d5" in groups:
                day, month, year = int(groups["d5"]), _MONTHS[groups["mn5"].lower()], int(groups["y5"])
            else:
                day, month, year = int(groups["d6"]), _MONTHS[groups["mn6"].lower()], int(groups["y6"])
            if year < 100:
                year += 2000
            found.append((match.start(), match.end(), date(year, month, day)))
        except ValueError:  # 31.02. or a month 13: not a date
            continue
    return found


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in spans:
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def _amounts(masked: str) -> list[_Amount]:
    found = []
    for match in _AMOUNT.finditer(masked):
        digits = re.sub(r"\D", "", match["int"]) + match["dec"][1:]
        value = int(Decimal(digits))  # cents from the digits: no float
        if match["sign"] or match["trail"]:
            value = -value
        window = masked[max(0, match.start() - 6) : match.end() + 6]
        currency = _CURRENCY.search(window)
        code = (currency.group(1) or _SYMBOLS[currency.group(2)]) if currency else None
        found.append(_Amount(match.start(), match.end(), value, code))
    return found


def _column_kind(match: re.Match[str]) -> str:
    return next(kind for kind in ("paid", "deduction", "gross") if match[kind])


def _pick(amounts: list[_Amount], masked: str, paid_column: tuple[int, int] | None) -> _Amount:
    """The paid amount of a row: by the header's paid column when the row has as many amounts as the header has
    amount columns, else the last amount not introduced by a discount word."""
    if paid_column is not None and len(amounts) == paid_column[1]:
        return amounts[paid_column[0]]
    kept = [amount for amount in amounts if not _DEDUCTION.search(masked[max(0, amount.start - 20) : amount.start])]
    return (kept or amounts)[-1]


def _other_references(masked: str) -> list[str]:
    refs: list[str] = []
    for pattern in (_LABELLED, _PREFIXED):
        for match in pattern.finditer(masked):
            ref = match["ref"].rstrip("./-_").upper()
            if any(char.isdigit() for char in ref) and not _NOT_A_REFERENCE.match(ref) and ref not in refs:
                refs.append(ref)
        if refs:
            return refs
    leading = _LEADING_NUMBER.match(masked)
    return [leading["ref"]] if leading else []


def _payer(lines: list[str]) -> str | None:
    for line in lines:
        match = _PAYER_LABEL.match(line)
        if match:
            return re.split(r"\s{2,}", match["name"])[0]
    for line in lines:
        stripped = line.strip()
        if not stripped or _PAYEE_LABEL.match(stripped) or not re.search(r"[A-Za-zÄÖÜäöü]{2}", stripped):
            continue
        if _is_advice([stripped]) or _dates(stripped) or _amounts(stripped):
            return None  # the document starts with its heading or data: no letterhead
        return re.split(r"\s{2,}", stripped)[0]
    return None


def _most_common(values: list[str]) -> str | None:
    return max(set(values), key=values.count) if values else None
