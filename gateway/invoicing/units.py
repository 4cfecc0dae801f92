"""UN/ECE Recommendation 20 unit codes (BT-130) Settle accepts for meters, with their names.

A deliberately short list of codes that metered B2B services use; the full code list has ~2,000 entries, most of
them for goods. Codes are case-sensitive (``KWH``, not ``kwh``). Do not invent codes: map each meter's unit to one
of these (a count of things is ``C62`` "one").
"""

from __future__ import annotations

import difflib

from settle.errors import ValidationError
from settle.unit_codes import UNIT_CODES as SPEC_UNIT_CODES

#: German names of the codes (the list itself, with English names, is the spec's: :mod:`settle.unit_codes`).
_GERMAN: dict[str, str] = {
    "C62": "Stück",
    "H87": "Stück",
    "EA": "Einheit",
    "NAR": "Anzahl Artikel",
    "SET": "Satz",
    "PR": "Paar",
    "IE": "Person",
    "E48": "Serviceeinheit",
    "LS": "Pauschale",
    "ZZ": "gegenseitig definiert",
    "P1": "Prozent",
    "SEC": "Sekunde",
    "MIN": "Minute",
    "HUR": "Stunde",
    "DAY": "Tag",
    "E49": "Arbeitstag",
    "WEE": "Woche",
    "MON": "Monat",
    "QAN": "Quartal",
    "ANN": "Jahr",
    "A99": "Bit",
    "AD": "Byte",
    "2P": "Kilobyte",
    "4L": "Megabyte",
    "E34": "Gigabyte",
    "E35": "Terabyte",
    "E36": "Petabyte",
    "WHR": "Wattstunde",
    "KWH": "Kilowattstunde",
    "MWH": "Megawattstunde",
    "GWH": "Gigawattstunde",
    "KWT": "Kilowatt",
    "MAW": "Megawatt",
    "MTQ": "Kubikmeter",
    "LTR": "Liter",
    "GRM": "Gramm",
    "KGM": "Kilogramm",
    "TNE": "Tonne",
    "MMT": "Millimeter",
    "CMT": "Zentimeter",
    "MTR": "Meter",
    "KMT": "Kilometer",
    "MTK": "Quadratmeter",
    "HAR": "Hektar",
}

#: code → (English name, German name): every code a spec may name.
UNIT_CODES: dict[str, tuple[str, str]] = {code: (english, _GERMAN.get(code, english)) for code, english in SPEC_UNIT_CODES.items()}


class UnknownUnitCode(ValidationError):
    """A unit code is not one of the UN/ECE Rec 20 codes Settle accepts."""


def unit_name(code: str, language: str = "de") -> str:
    """The display name of a code (German by default); the code itself for a code Settle does not know."""
    names = UNIT_CODES.get(code)
    if names is None:
        return code
    return names[1] if language == "de" else names[0]


def is_known_unit(code: str) -> bool:
    return code in UNIT_CODES


def require_unit(code: str) -> str:
    """``code`` if Settle accepts it, else :class:`UnknownUnitCode` with the closest codes as a suggestion."""
    if code in UNIT_CODES:
        return code
    close = difflib.get_close_matches(code.upper(), UNIT_CODES, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownUnitCode(f"unit code {code!r} is not a UN/ECE Rec 20 code Settle accepts (e.g. C62, HUR, E34, KWH).{hint}")
