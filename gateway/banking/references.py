"""References that tie a bank payment to one settlement: the SEPA end-to-end id, the ISO 11649 (RF) creditor
reference, and the payment anchor whose hash goes on-chain (end-to-end id, amount and value date: on both parties'
statements).

Both references are derived deterministically from ``(chain id, agreement address, period)``, so the gateway (or
anyone holding the same three facts) can recompute them, and a statement line carrying either one identifies
its settlement without a lookup table.

* End-to-end id: ``STL`` + 19 base-36 characters (96 bits of SHA-256 over chain id and agreement) + ``-`` +
  the period in decimal, optionally ``R<n>`` for a re-presentation: at most 35 characters from the SEPA
  character set (``A-Z 0-9 -``), never starting or ending with ``/``.
* Creditor reference: ``RF`` + two ISO 7064 mod 97-10 check digits + 16 base-36 characters (80 bits of SHA-256
  over chain id, agreement and period), 20 characters in all (ISO 11649 allows up to 25).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date

from eth_utils import keccak

from gateway.errors import InvalidReferenceError
from settle.money import format_minor

MAX_END_TO_END_LENGTH = 35
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_E2E = re.compile(r"^STL([0-9A-Z]{19})-(\d{1,10})(?:R([1-9]))?$")
_RF_BODY = re.compile(r"^[0-9A-Z]{1,21}$")
_RF_START = re.compile(r"^RF\d{2}[0-9A-Z]{0,21}$", re.IGNORECASE)
#: The characters SEPA guarantees to carry end to end (EPC "Latin character set").
SEPA_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ ")
MAX_PERIOD = 2**32 - 1


def normalize_agreement(agreement: str) -> str:
    """A ``0x``-prefixed 40-digit hex address in lower case; anything else is an error."""
    if not isinstance(agreement, str) or not _ADDRESS.match(agreement.strip()):
        raise InvalidReferenceError(f"agreement: {agreement!r} is not a 0x-prefixed 20-byte hex address")
    return agreement.strip().lower()


def _check_inputs(chain_id: int, period: int) -> None:
    if not isinstance(chain_id, int) or isinstance(chain_id, bool) or chain_id <= 0:
        raise InvalidReferenceError(f"chain id: {chain_id!r} is not a positive integer")
    if not isinstance(period, int) or isinstance(period, bool) or not 0 <= period <= MAX_PERIOD:
        raise InvalidReferenceError(f"period: {period!r} is not an integer between 0 and {MAX_PERIOD}")


def _base36(value: int, width: int) -> str:
    digits = []
    while value:
        value, rest = divmod(value, 36)
        digits.append(_ALPHABET[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def _digest(label: str, *parts: object) -> bytes:
    return hashlib.sha256(":".join([label, *map(str, parts)]).encode()).digest()


def end_to_end_id(chain_id: int, agreement: str, period: int, attempt: int = 0) -> str:
    """The end-to-end id of the payment for ``period`` of ``agreement`` on ``chain_id``.

    ``attempt`` > 0 (at most 9) marks a re-presentation of a returned direct debit, which needs a new id.
    """
    _check_inputs(chain_id, period)
    agreement = normalize_agreement(agreement)
    if not isinstance(attempt, int) or not 0 <= attempt <= 9:
        raise InvalidReferenceError(f"attempt: {attempt!r} is not between 0 and 9")
    key = int.from_bytes(_digest("settle-e2e", chain_id, agreement)[:12], "big")
    suffix = f"R{attempt}" if attempt else ""
    return f"STL{_base36(key, 19)}-{period}{suffix}"


def parse_end_to_end_id(text: str) -> tuple[str, int, int] | None:
    """``(agreement key, period, attempt)`` if ``text`` is an end-to-end id Settle made, else ``None``."""
    match = _E2E.match(text.strip().upper()) if isinstance(text, str) else None
    if not match or int(match.group(2)) > MAX_PERIOD:
        return None
    return match.group(1), int(match.group(2)), int(match.group(3) or 0)


def first_attempt_id(e2e: str) -> str:
    """``STL…-3R1`` → ``STL…-3``: a re-presentation's end-to-end id without its attempt suffix (any other text as
    it is), so a line that carries one attempt's id finds the payment under another."""
    return e2e[:-2] if _ATTEMPT.search(e2e) else e2e


_ATTEMPT = re.compile(r"-\d+R[1-9]$")


def is_sepa_text(text: str) -> bool:
    """Whether every character of ``text`` is in the SEPA character set."""
    return all(c in SEPA_CHARACTERS for c in text)


# -- ISO 11649 creditor reference --------------------------------------------------------------------------------


_LETTER_VALUES = str.maketrans({letter: str(10 + k) for k, letter in enumerate(_ALPHABET[10:])})


def mod97(text: str) -> int:
    """ISO 7064 mod 97-10 over ``text`` (digits and upper-case letters, A=10 … Z=35), one big-integer remainder: the
    check of RF creditor references (ISO 11649) and IBANs (ISO 13616) once rearranged."""
    return int(text.translate(_LETTER_VALUES)) % 97


def rf_check_digits(body: str) -> str:
    """The two check digits of ``RFxx<body>``."""
    body = body.upper()
    if not _RF_BODY.match(body):
        raise InvalidReferenceError(f"creditor reference: body {body!r} must be 1 to 21 letters or digits")
    return f"{98 - mod97(body + 'RF00'):02d}"


def make_creditor_reference(body: str) -> str:
    """``RF`` + check digits + ``body`` (1 to 21 letters or digits)."""
    body = body.upper()
    return f"RF{rf_check_digits(body)}{body}"


def creditor_reference(chain_id: int, agreement: str, period: int) -> str:
    """The RF creditor reference of the settlement of ``period`` of ``agreement`` on ``chain_id``."""
    _check_inputs(chain_id, period)
    agreement = normalize_agreement(agreement)
    key = int.from_bytes(_digest("settle-rf", chain_id, agreement, period)[:10], "big")
    return make_creditor_reference(_base36(key, 16))


def fee_reference(chain_id: int, agreement: str, period: int, event: str) -> str:
    """The RF creditor reference of a fee invoiced for the settlement of ``period`` (``event`` names what caused it,
    e.g. the return's transaction): never the settlement's own reference, so a payment of the fee is told apart."""
    _check_inputs(chain_id, period)
    agreement = normalize_agreement(agreement)
    key = int.from_bytes(_digest("settle-fee", chain_id, agreement, period, event)[:10], "big")
    return make_creditor_reference(_base36(key, 16))


def parse_creditor_reference(text: str) -> str:
    """``text`` as a normalized RF reference (no spaces, upper case), or :class:`InvalidReferenceError`."""
    if not isinstance(text, str):
        raise InvalidReferenceError(f"creditor reference: {text!r} is not text")
    compact = "".join(text.split()).upper()
    if not compact.startswith("RF"):
        raise InvalidReferenceError(f"creditor reference: {text!r} does not start with RF")
    if not 5 <= len(compact) <= 25:
        raise InvalidReferenceError(f"creditor reference: {text!r} has {len(compact)} characters; RF references have 5 to 25")
    check, body = compact[2:4], compact[4:]
    if not check.isdigit() or not _RF_BODY.match(body):
        raise InvalidReferenceError(f"creditor reference: {text!r} must be RF, two check digits, then 1 to 21 letters or digits")
    if mod97(body + "RF" + check) != 1:
        raise InvalidReferenceError(f"creditor reference: {text!r} has wrong check digits (expected {rf_check_digits(body)})")
    return compact


def is_valid_creditor_reference(text: str) -> bool:
    try:
        parse_creditor_reference(text)
    except InvalidReferenceError:
        return False
    return True


def find_creditor_references(text: str) -> list[str]:
    """Valid RF references inside free text (e.g. unstructured remittance).

    A reference is a word ``RFnn…``, possibly printed in groups of up to four characters (``RF18 5390 0754
    7034``). Every valid reading is returned (a following short word may by chance extend a valid reference to
    another valid one); the caller's lookup decides which one is real.
    """
    words = [word.strip(".,;:()[]'\"") for word in (text or "").split()]
    found: list[str] = []
    for start, word in enumerate(words):
        if not _RF_START.match(word):
            continue
        compact = word.upper()
        candidates = [compact]
        for following in words[start + 1 :]:
            if len(following) > 4 or not following.isalnum() or not following.isascii() or len(compact) + len(following) > 25:
                break
            compact += following.upper()
            candidates.append(compact)
        for candidate in candidates:
            if is_valid_creditor_reference(candidate) and candidate not in found:
                found.append(candidate)
    return found


def format_creditor_reference(reference: str) -> str:
    """Groups of four for printing: ``RF18 5390 0754 7034``."""
    compact = parse_creditor_reference(reference)
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


# -- on-chain bank reference ---------------------------------------------------------------------------------------


def payment_anchor(reference: str, amount: int, digits: int, currency: str, day: date) -> str:
    """The text whose keccak256 goes on-chain with a payment (``confirmPayment``/``reportReturn``'s ``bankRefHash``):
    ``<reference>|<amount> <currency>|<date>``, e.g. ``STL0…-3|102.50 EUR|2026-11-06``.

    Everything in it is on both parties' bank statements: the SEPA end-to-end id (the reference; the creditor
    reference when a payment carries no end-to-end id), the amount, and the value date (the interbank settlement
    date both banks book). So the payer, like the payee, can recompute the hash from its own statement line
    (``cast keccak "STL0…-3|102.50 EUR|2026-11-06"``) and find the payment on-chain. No IBAN or name is in it.
    """
    if not reference or not reference.strip():
        raise InvalidReferenceError("payment anchor: the reference (end-to-end id or creditor reference) is empty")
    if amount < 0:
        raise InvalidReferenceError(f"payment anchor: amount {amount} is negative")
    return f"{reference.strip()}|{format_minor(amount, digits)} {currency}|{day.isoformat()}"


def bank_reference_hash(anchor: str) -> str:
    """``0x``-prefixed keccak256 of the UTF-8 ``anchor`` (:func:`payment_anchor`): what ``confirmPayment`` carries."""
    if not anchor or not anchor.strip():
        raise InvalidReferenceError("bank reference: empty")
    return "0x" + keccak(anchor.encode("utf-8")).hex()


def reason_code_bytes4(code: str) -> str:
    """An ISO 20022 reason code (``AM04``) as the ``bytes4`` hex ``reportReturn`` takes (``0x414d3034``)."""
    if not isinstance(code, str) or not 1 <= len(code) <= 4 or not code.isascii() or not code.isalnum():
        raise InvalidReferenceError(f"reason code: {code!r} must be 1 to 4 ASCII letters or digits")
    return "0x" + code.upper().encode("ascii").ljust(4, b"\0").hex()
