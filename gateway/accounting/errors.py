"""The accounting hand-over's exceptions, below :class:`settle.errors.ValidationError`.

Every message names the field (or the file line and column) that was wrong, the value, and what to do.
"""

from __future__ import annotations

from settle.errors import ValidationError


class AccountingError(ValidationError):
    """A booking, a party record or an export request is malformed (negative amount, missing customer account,
    text DATEV cannot take); nothing was written."""


class ChartConfigError(AccountingError):
    """The account mapping or the DATEV settings the operator configured are malformed or inconsistent."""


class ExtfFormatError(AccountingError):
    """A file is not a well-formed DATEV-Format (EXTF) file: header, column headings or a line's field count."""
