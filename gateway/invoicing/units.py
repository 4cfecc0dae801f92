"""UN/ECE Recommendation 20 unit codes (BT-130) Settle accepts for meters, with their names.

A deliberately short list of codes that metered B2B services use; the full code list has ~2,000 entries, most of
them for goods. Codes are case-sensitive (``KWH``, not ``kwh``). Do not invent codes: map each meter's unit to one
of these (a count of things is ``C62`` "one").
"""

from __future__ import annotations

import difflib

from settle.errors import ValidationError

#: code → (English name, German name)
UNIT_CODES: dict[str, tuple[str, str]] = {
    "C62": ("one (unit)", "Stück"),
    "H87": ("piece", "Stück"),
    "EA": ("each", "Einheit"),
    "SEC": ("second", "Sekunde"),
    "MIN": ("minute", "Minute"),
    "HUR": ("hour", "Stunde"),
    "DAY": ("day", "Tag"),
    "WEE": ("week", "Woche"),
    "MON": ("month", "Monat"),
    "ANN": ("year", "Jahr"),
    "AD": ("byte", "Byte"),
    "2P": ("kilobyte", "Kilobyte"),
    "4L": ("megabyte", "Megabyte"),
    "E34": ("gigabyte", "Gigabyte"),
    "E35": ("terabyte", "Terabyte"),
    "E36": ("petabyte", "Petabyte"),
    "KWH": ("kilowatt hour", "Kilowattstunde"),
    "MWH": ("megawatt hour", "Megawattstunde"),
    "WHR": ("watt hour", "Wattstunde"),
    "MTQ": ("cubic metre", "Kubikmeter"),
    "LTR": ("litre", "Liter"),
    "KGM": ("kilogram", "Kilogramm"),
    "TNE": ("tonne (metric ton)", "Tonne"),
    "MTR": ("metre", "Meter"),
    "KMT": ("kilometre", "Kilometer"),
    "MTK": ("square metre", "Quadratmeter"),
    "LS": ("lump sum", "Pauschale"),
    "P1": ("percent", "Prozent"),
}


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
