"""The one place for what the contracts define and Python reads: enums, the ``status()`` and ``settlement()`` structs,
ABI type strings and event signatures (mirrors contracts/types/BillingTypes.sol and IBillingAgreement.sol).

Everything that decodes on-chain values uses these names instead of numbers, so a change in the contracts changes
one module (tests/test_chaintypes.py compares each definition with the compiled ABI).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from settle.keccak import keccak

__all__ = [
    "OPEN_FOR_PULL",
    "OPEN_STATUSES",
    "AgreementState",
    "AgreementStatus",
    "PaymentStatus",
    "ServiceStatus",
    "SettlementView",
    "TerminationReason",
    "abi_type",
    "event_signature",
    "event_topic",
]


class _Labelled(IntEnum):
    @property
    def label(self) -> str:
        """Lower-case name with underscores (``partially_paid``), as the read model and JSON output spell it."""
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> _Labelled:
        return cls[label.upper()]


class AgreementState(_Labelled):
    """``AgreementState``: Proposed → Active ↔ Paused → Terminated."""

    PROPOSED = 0
    ACTIVE = 1
    PAUSED = 2
    TERMINATED = 3


class PaymentStatus(_Labelled):
    """``PaymentStatus`` of one settlement (``NONE``: the period is not settled)."""

    NONE = 0
    DUE = 1
    PARTIALLY_PAID = 2
    PAID = 3
    RETURNED = 4
    DISPUTED = 5
    WRITTEN_OFF = 6


class ServiceStatus(_Labelled):
    """``ServiceStatus``: what the payee's systems should grant, set by dunning."""

    ACTIVE = 0
    RESTRICTED = 1
    SUSPENDED = 2


class TerminationReason(_Labelled):
    TERM_END = 0
    NOTICE = 1
    CONSENT = 2
    CANCELLED = 3


#: Statuses in which something may still be owed (amount − paid > 0 possible).
OPEN_STATUSES = frozenset({PaymentStatus.DUE, PaymentStatus.PARTIALLY_PAID, PaymentStatus.RETURNED, PaymentStatus.DISPUTED})
#: Statuses in which ``collect(period)`` pulls tokens (while Disputed only what is open beyond the disputed amount).
OPEN_FOR_PULL = OPEN_STATUSES


@dataclass(frozen=True)
class AgreementStatus:
    """``status()``: everything a dashboard needs in one call."""

    state: AgreementState
    service_status: ServiceStatus
    version: int
    pending_version: int
    current_period: int
    current_period_start: int
    current_period_end: int
    next_period_to_settle: int
    end_period: int
    outstanding: int
    usage_epoch: int

    @classmethod
    def decode(cls, raw: Sequence[Any]) -> AgreementStatus:
        v = [int(x) for x in raw]
        if len(v) != 11:
            raise ValueError(f"status(): expected 11 fields, got {len(v)}")
        return cls(AgreementState(v[0]), ServiceStatus(v[1]), *v[2:])


@dataclass(frozen=True)
class SettlementView:
    """``settlement(period)``: amounts in minor units; ``disputed`` only while Disputed."""

    amount: int
    paid: int
    settled_at: int
    status: PaymentStatus
    terms_version: int
    disputed: int

    @classmethod
    def decode(cls, raw: Sequence[Any]) -> SettlementView:
        v = [int(x) for x in raw]
        if len(v) != 6:
            raise ValueError(f"settlement(): expected 6 fields, got {len(v)}")
        return cls(v[0], v[1], v[2], PaymentStatus(v[3]), v[4], v[5])

    @property
    def settled(self) -> bool:
        return self.status is not PaymentStatus.NONE

    @property
    def open_amount(self) -> int:
        """What is still owed (0 for Paid, WrittenOff and unsettled periods)."""
        return self.amount - self.paid if self.status in OPEN_STATUSES else 0


def abi_type(item: Mapping[str, Any]) -> str:
    """The canonical type of an ABI input (``(uint8,uint64)[]`` for a tuple array), as selectors and topics use it."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in item["components"]) + ")" + kind[len("tuple") :]
    return kind


def event_signature(item: Mapping[str, Any]) -> str:
    """``Name(type,type,…)`` of an event (or error/function) ABI entry."""
    return f"{item['name']}({','.join(abi_type(i) for i in item.get('inputs', []))})"


def event_topic(item: Mapping[str, Any]) -> str:
    """topic0 of an event ABI entry, ``0x``-hex."""
    return "0x" + keccak(text=event_signature(item)).hex()


def events_of(abi: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The event entries of an ABI by name."""
    return {str(item["name"]): item for item in abi if item.get("type") == "event"}
