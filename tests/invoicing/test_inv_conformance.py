"""The checkers against real documents of other issuers (../shared/conformance, when present).

Valid XRechnung / EN 16931 samples must pass schemas.py and rules.py (no false alarms); samples the official
schematron rejects for a rule rules.py implements must be rejected by rules.py with that rule id. The expected
results come from conformance/einvoice/observed_validation_results.tsv (the official XSLTs run over each sample).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from gateway.invoicing import cii, rules, schemas, ubl
from gateway.invoicing.document import InvoiceError

CONFORMANCE = Path(os.environ.get("SETTLE_CONFORMANCE") or Path(__file__).resolve().parents[2].parent / "shared" / "conformance")
TSV = CONFORMANCE / "einvoice" / "observed_validation_results.tsv"
pytestmark = pytest.mark.skipif(not TSV.exists(), reason="../shared/conformance is not present")

_RULE = re.compile(r"(BR-[A-Z0-9-]+|PEPPOL-EN16931-R\d+)")
# Rules rules.py implements (official ids); others (code lists BR-CL-*, PEPPOL-R008 empty elements …) it does not.
_COVERED = re.compile(r"^(BR-(0\d|1[0-6])|BR-CO-1[0-6]|BR-CO-2[56]|BR-DE-\d+(-[ab])?|BR-(S|AE|E|Z|IC|G|O)-\d\d|PEPPOL-EN16931-R0[12]0)$")


def _samples() -> list[tuple[str, str, set[str]]]:
    if not TSV.exists():
        return []
    out = []
    for line in TSV.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#") or line.startswith("file\t"):
            continue
        path, syntax, guideline, results = line.split("\t")[:4]
        # EN 16931 documents only (Factur-X MINIMUM/BASIC WL are not EN 16931 invoices).
        if syntax in ("ubl", "cii") and guideline.startswith("urn:cen.eu:en16931:2017") and "extended" not in guideline:
            out.append((path, syntax, set(_RULE.findall(results))))
    return out


SAMPLES = _samples()


@pytest.mark.parametrize(("path", "syntax", "observed"), SAMPLES, ids=[s[0].rsplit("/", 1)[-1] for s in SAMPLES])
def test_checkers_agree_with_the_official_validation(path, syntax, observed):
    xml = (CONFORMANCE / path).read_bytes()
    root = schemas.parse(xml)
    try:
        schemas.kind_of(root)
        inv = (ubl.read_ubl if syntax == "ubl" else cii.read_cii)(root)
    except InvoiceError as exc:
        pytest.skip(f"outside Settle's model: {exc}")
    found = {v.rule for v in rules.errors(rules.check(inv, settle_rules=False))}
    if not observed:
        assert schemas.schema_errors(root) == []
        assert found == set(), f"false alarm on a valid document: {found}"
    else:
        covered = {r for r in observed if _COVERED.match(r)}
        assert covered <= found, f"official validation reports {sorted(observed)}, rules.py {sorted(found)}"


def test_enough_valid_samples_were_checked():
    valid = [s for s in SAMPLES if not s[2]]
    assert len(valid) >= 40
