"""The gateway's exceptions, below the project's families in :mod:`settle.errors`.

Messages name the field and the value that was wrong and say what to do; the command line prints them as one
line. IBANs in messages are the user's own input echoed back; nothing here is logged.
"""

from __future__ import annotations

from settle.errors import SettleError, ValidationError


class MasterDataError(ValidationError):
    """Party, bank account, mandate or payment method data is malformed or inconsistent."""


class InvalidReferenceError(ValidationError):
    """An end-to-end id or an ISO 11649 (RF) creditor reference is malformed or has wrong check digits."""


class BankFileError(ValidationError):
    """A payment file (pain.001 / pain.008) cannot be built, or the built file breaks its XSD."""


class MandateError(BankFileError):
    """A direct debit has no usable SEPA mandate (missing, revoked, expired or for another party)."""


class StatementError(ValidationError):
    """A bank statement (camt.053 / camt.054) is malformed, hostile or of an unsupported kind."""


class DuplicateStatementError(StatementError):
    """The same statement file (same SHA-256) was imported before; nothing was imported again."""


class DisputeNoteError(ValidationError):
    """A dispute text does not match the hash the party's transaction carries (or the transaction is not a dispute
    action on that settlement)."""


class NotFoundError(SettleError):
    """A party, agreement, mandate or record the command names does not exist."""


class ConflictError(SettleError):
    """The request contradicts what is stored (e.g. a settlement recorded twice with different amounts)."""


class HistoryViolation(SettleError):
    """Master data or a payment record was about to be deleted; records are deactivated, never deleted."""


class OutboxError(SettleError):
    """An outbox item was completed or failed by a worker that does not hold its lock."""


class MailError(SettleError):
    """An e-mail could not be handed to the SMTP server (connection, TLS, login, a refused sender or recipient); the
    message says which step failed and never carries the password."""
