"""UN/ECE Recommendation 20 unit codes a meter's ``unit_code`` may name (EN 16931 BT-130), with English names.

A deliberate selection of the codes metered B2B services use (time, data, energy, counts, lump sums); the full
code list has about 2,000 entries, most of them for goods. Codes are case-sensitive as published (``KWH``, ``E34``).
A count of things (calls, seats, requests) is ``C62`` ("one").

    check_unit_code("HUR")          # returns "HUR"
    check_unit_code("GBM")          # ValueError: 'GBM' is not a UN/ECE Rec 20 unit code Settle knows …
"""

from __future__ import annotations

import difflib

__all__ = ["UNIT_CODES", "check_unit_code", "unit_code_name"]

#: code → English name (as in UN/ECE Recommendation 20, revision 17).
UNIT_CODES: dict[str, str] = {
    "C62": "one",
    "H87": "piece",
    "EA": "each",
    "NAR": "number of articles",
    "SET": "set",
    "PR": "pair",
    "IE": "person",
    "E48": "service unit",
    "LS": "lump sum",
    "ZZ": "mutually defined",
    "P1": "percent",
    "SEC": "second",
    "MIN": "minute",
    "HUR": "hour",
    "DAY": "day",
    "E49": "working day",
    "WEE": "week",
    "MON": "month",
    "QAN": "quarter (of a year)",
    "ANN": "year",
    "A99": "bit",
    "AD": "byte",
    "2P": "kilobyte",
    "4L": "megabyte",
    "E34": "gigabyte",
    "E35": "terabyte",
    "E36": "petabyte",
    "WHR": "watt hour",
    "KWH": "kilowatt hour",
    "MWH": "megawatt hour (1000 kW.h)",
    "GWH": "gigawatt hour",
    "KWT": "kilowatt",
    "MAW": "megawatt",
    "LTR": "litre",
    "MTQ": "cubic metre",
    "GRM": "gram",
    "KGM": "kilogram",
    "TNE": "tonne (metric ton)",
    "MMT": "millimetre",
    "CMT": "centimetre",
    "MTR": "metre",
    "KMT": "kilometre",
    "MTK": "square metre",
    "HAR": "hectare",
}


def unit_code_name(code: str) -> str:
    """The English name of a known code (``"HUR"`` → ``"hour"``); raises ``KeyError`` for an unknown one."""
    return UNIT_CODES[code]


def check_unit_code(code: str) -> str:
    """``code`` if it is a known Rec 20 code, else ``ValueError`` naming it, with the closest known codes."""
    if code in UNIT_CODES:
        return code
    upper = code.strip().upper()
    if upper in UNIT_CODES:
        raise ValueError(f"{code!r} is not a UN/ECE Rec 20 unit code as written; codes are upper case: {upper!r} ({UNIT_CODES[upper]})")
    close = difflib.get_close_matches(upper, list(UNIT_CODES), n=2, cutoff=0.5)
    hint = f" (did you mean {' or '.join(repr(c) + ' ' + UNIT_CODES[c] for c in close)}?)" if close else ""
    examples = ", ".join(f"{c} ({UNIT_CODES[c]})" for c in ("C62", "HUR", "E34", "KWH"))
    raise ValueError(f"{code!r} is not a UN/ECE Rec 20 unit code Settle knows{hint}; use e.g. {examples}")
