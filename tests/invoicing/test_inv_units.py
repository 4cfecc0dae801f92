"""One list of unit codes: every UN/ECE Rec 20 code an agreement spec accepts is one an invoice may carry (the spec
check and the EN 16931 rules never disagree), each with a German name for the PDF."""

from __future__ import annotations

import pytest

from gateway.invoicing.units import UnknownUnitCode, is_known_unit, require_unit, unit_name
from settle.unit_codes import UNIT_CODES, check_unit_code


def test_every_spec_unit_code_is_an_invoice_unit_code_with_a_german_name() -> None:
    for code, english in UNIT_CODES.items():
        assert check_unit_code(code) == code and is_known_unit(code) and require_unit(code) == code
        assert unit_name(code, "en") == english and unit_name(code, "de") not in ("", code)


def test_an_unknown_code_is_refused_by_both_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match="GBM"):
        check_unit_code("GBM")
    with pytest.raises(UnknownUnitCode, match="Did you mean"):
        require_unit("HRU")
    assert not is_known_unit("hur")  # codes are case-sensitive as published
