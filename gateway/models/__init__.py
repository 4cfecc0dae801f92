"""The gateway's SQL model, by area: ``base`` (declarative base, column types, change history), ``parties``
(master data), ``banking`` (payment instructions and files, statements), ``outbox``, ``chain`` (the read model
and the transactions the gateway sends), ``invoicing`` (issued invoices, number series, held documents),
``reconciliation`` (allocations of bank lines, credit balances, fee items, review decisions, learnt accounts,
remittance advices), ``receivables`` (domain events, dunning policies and states, notices), ``webhooks``
(endpoints, deliveries, attempts), ``portal`` (API tokens, staff accounts, sessions, sign-in nonces, the audit log,
the sign-in rate limits' hits). Tables carry a ``gw_`` prefix so the gateway can share a database with the oracle;
money is exact (minor units), times are timezone-aware UTC."""

from gateway.models.banking import (
    BankStatement,
    InstructionState,
    LineState,
    PaymentFile,
    PaymentFileState,
    PaymentInstruction,
    StatementLine,
)
from gateway.models.base import ACTOR_KEY, Audited, Base, HistoryRecord, Uint, UTCDateTime, set_actor, utcnow
from gateway.models.chain import (
    Agreement,
    ChainBlock,
    ChainCursor,
    ChainEvent,
    ChainTransaction,
    Dispute,
    DisputeNote,
    Settlement,
    SignerNonce,
    TermsVersion,
    Usage,
)
from gateway.models.invoicing import InvoiceFile, InvoiceHold, InvoiceSeries, IssuedInvoice
from gateway.models.outbox import OutboxItem, OutboxState
from gateway.models.parties import BankAccount, Mandate, MandateStatus, Party, PaymentMethod, PaymentMethodKind, SequenceType
from gateway.models.portal import ApiToken, AuditEntry, AuthSession, RateHit, SiweNonce, StaffAccount, StaffInvite
from gateway.models.receivables import DomainEvent, DunningAssignment, DunningItem, Notice
from gateway.models.reconciliation import (
    CreditBalance,
    FeeItem,
    KnownAccount,
    LineAllocation,
    RemittanceAdviceRecord,
    ReviewDecision,
)
from gateway.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiToken",
    "AuditEntry",
    "AuthSession",
    "RateHit",
    "SiweNonce",
    "StaffAccount",
    "StaffInvite",
    "WebhookEndpoint",
    "WebhookDelivery",
    "WebhookAttempt",
    "Notice",
    "DunningItem",
    "DunningAssignment",
    "DomainEvent",
    "ReviewDecision",
    "RemittanceAdviceRecord",
    "LineAllocation",
    "KnownAccount",
    "FeeItem",
    "CreditBalance",
    "ACTOR_KEY",
    "Agreement",
    "Audited",
    "BankAccount",
    "BankStatement",
    "Base",
    "ChainBlock",
    "ChainCursor",
    "ChainEvent",
    "ChainTransaction",
    "Dispute",
    "DisputeNote",
    "HistoryRecord",
    "InstructionState",
    "InvoiceFile",
    "InvoiceHold",
    "InvoiceSeries",
    "IssuedInvoice",
    "LineState",
    "Mandate",
    "MandateStatus",
    "OutboxItem",
    "OutboxState",
    "Party",
    "PaymentFile",
    "PaymentFileState",
    "PaymentInstruction",
    "PaymentMethod",
    "PaymentMethodKind",
    "SequenceType",
    "Settlement",
    "SignerNonce",
    "StatementLine",
    "TermsVersion",
    "UTCDateTime",
    "Uint",
    "Usage",
    "set_actor",
    "utcnow",
]
