"""settle.chaintypes and every hand-written copy of an on-chain name, selector or topic agree with the contracts."""

from __future__ import annotations

import re
from pathlib import Path

from eth_utils import keccak

from gateway.chain import chaintx
from oracle import txsign
from settle.chaintypes import (
    AgreementState,
    AgreementStatus,
    PaymentStatus,
    ServiceStatus,
    SettlementView,
    TerminationReason,
    event_signature,
    event_topic,
    events_of,
)
from settle.compiler import load_artifact

ROOT = Path(__file__).resolve().parents[1]


def _solidity_enum(name: str) -> list[str]:
    source = (ROOT / "contracts" / "types" / "BillingTypes.sol").read_text()
    body = re.search(rf"enum {name} \{{([^}}]*)\}}", source).group(1)  # type: ignore[union-attr]
    return [m.strip() for m in body.split(",") if m.strip()]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def test_enums_equal_the_solidity_enums() -> None:
    for py, sol in (
        (AgreementState, "AgreementState"),
        (PaymentStatus, "PaymentStatus"),
        (ServiceStatus, "ServiceStatus"),
        (TerminationReason, "TerminationReason"),
    ):
        assert [m.name for m in py] == [_snake(n) for n in _solidity_enum(sol)], sol
        assert [m.value for m in py] == list(range(len(py)))
    assert PaymentStatus.PARTIALLY_PAID.label == "partially_paid" and PaymentStatus.from_label("written_off") is PaymentStatus.WRITTEN_OFF


def _abi() -> list[dict]:
    return load_artifact("IBillingAgreement")["abi"]


def _outputs(name: str) -> list[dict]:
    (item,) = [i for i in _abi() if i.get("type") == "function" and i["name"] == name]
    return item["outputs"][0]["components"]


def test_status_and_settlement_structs_have_the_decoded_fields() -> None:
    assert [_snake(c["name"]).lower() for c in _outputs("status")] == list(AgreementStatus.__dataclass_fields__)
    assert [_snake(c["name"]).lower() for c in _outputs("settlement")] == list(SettlementView.__dataclass_fields__)


def test_hand_written_topics_and_selectors_equal_the_abi() -> None:
    events = events_of(_abi())
    assert chaintx._PAYMENT_CONFIRMED == event_topic(events["PaymentConfirmed"])
    assert chaintx._PAYMENT_RETURNED == event_topic(events["PaymentReturned"])
    assert txsign.USAGE_REPORTED_TOPIC.hex() == event_topic(events["UsageReported"])[2:]
    functions = {event_signature(i) for i in _abi() if i.get("type") == "function"}
    assert txsign.REPORT_USAGE_SIGNATURE in functions and txsign.REPORT_USAGE_WITH_SIGNATURE_SIGNATURE in functions
    assert "usageEpoch()" in functions
    assert txsign.USAGE_EPOCH_SELECTOR == keccak(text="usageEpoch()")[:4]
    assert txsign.FACTORY_SELECTOR == keccak(text="factory()")[:4]
    factory = {event_signature(i) for i in load_artifact("IAgreementFactory")["abi"] if i.get("type") == "function"}
    assert "oracleActiveFrom(address)" in factory


def test_every_error_the_gateway_acts_on_exists() -> None:
    """The gateway decides what a revert means by the custom error's name: a name the contracts no longer have would
    silently fall to the default."""
    errors = {i["name"] for i in _abi() if i.get("type") == "error"}
    handled = {name for action in chaintx.ACTIONS.values() for name in action.reverts}
    assert handled and handled <= errors, sorted(handled - errors)
