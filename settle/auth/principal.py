"""The caller of a route and what it may do.

Kinds: ``anonymous``; ``party`` (signed in with the key that accepted its agreements); ``staff`` (a person a party
invited, role ``viewer`` or ``finance``); ``machine`` (an API token of a party or of the operator, with scopes);
``operator`` (a token with the ``operator`` scope: runs the gateway, sees and changes everything); ``auditor``
(reads everything, changes nothing).

A party-bound principal (party, its staff, its machine tokens) sees only agreements where its address is payer or
payee. Nothing in a request other than a verified credential makes a principal: a header such as ``X-Settle-Party``
never does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    ANONYMOUS = "anonymous"
    PARTY = "party"
    STAFF = "staff"
    MACHINE = "machine"
    OPERATOR = "operator"
    AUDITOR = "auditor"


#: Scopes of API tokens: ``read`` (the owner's data), ``master-data`` (change the owner's parties, bank accounts,
#: mandates, payment methods), ``usage`` (report usage to the oracle), ``operator`` (everything), ``audit`` (read
#: everything: the auditor).
SCOPES = ("read", "master-data", "usage", "operator", "audit")
#: Roles of staff: ``viewer`` reads, ``finance`` also changes master data and decides reconciliation and dunning.
STAFF_ROLES = ("viewer", "finance")
#: What each staff role may do, as scopes.
ROLE_SCOPES: dict[str, frozenset[str]] = {"viewer": frozenset({"read"}), "finance": frozenset({"read", "master-data"})}
#: A party signed in with its own key may do everything for itself, including managing its staff and tokens.
PARTY_SCOPES = frozenset({"read", "master-data", "usage", "admin"})


class AuthorizationError(Exception):
    """The principal may not do this (HTTP 403; 401 when it is anonymous)."""


@dataclass(frozen=True)
class Principal:
    """A verified caller. ``party`` is the lower-case chain address whose data it may see (None: not bound to a
    party — the operator, an auditor, or anonymous); ``subject`` names it in the audit log and the change history
    (``party:0x…``, ``staff:7``, ``token:stl_ab12cd``)."""

    kind: Kind
    subject: str
    party: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    role: str | None = None
    #: The oracle's ingest source a usage token is bound to.
    source: str | None = None
    #: The session this principal came from (sign-out, CSRF), if any.
    session_id: int | None = None
    #: The web session's CSRF token (the cookie's): forms and unsafe requests sent with the cookie must echo it.
    csrf: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.kind is not Kind.ANONYMOUS

    @property
    def sees_all(self) -> bool:
        """The operator and auditors read every party's data."""
        return self.kind in (Kind.OPERATOR, Kind.AUDITOR)

    @property
    def is_operator(self) -> bool:
        return self.kind is Kind.OPERATOR

    def has(self, scope: str) -> bool:
        return self.kind is Kind.OPERATOR or scope in self.scopes

    def can_read(self, *parties: str | None) -> bool:
        """Whether it may read a record concerning ``parties`` (an agreement's payer and payee, a party's own data)."""
        if self.sees_all:
            return True
        if self.party is None or not self.has("read"):
            return False
        return self.party in {p.lower() for p in parties if p}

    def can_write(self, *parties: str | None, scope: str = "master-data") -> bool:
        """Whether it may change a record of ``parties`` with ``scope`` (the auditor never may)."""
        if self.kind is Kind.OPERATOR:
            return True
        if self.kind is Kind.AUDITOR or self.party is None or scope not in self.scopes:
            return False
        return self.party in {p.lower() for p in parties if p}

    def visible_parties(self) -> frozenset[str] | None:
        """The parties whose records it may list (None: every party's)."""
        if self.sees_all:
            return None
        if self.party is None or not self.has("read"):
            return frozenset()
        return frozenset({self.party})


ANONYMOUS = Principal(Kind.ANONYMOUS, "anonymous")


def operator(subject: str = "operator") -> Principal:
    """The operator (CLI, workers, the operator token)."""
    return Principal(Kind.OPERATOR, subject, scopes=frozenset(SCOPES))


def for_token(subject: str, party: str | None, scopes: frozenset[str], source: str | None = None) -> Principal:
    """The principal of an API token: ``operator`` scope → the operator; ``audit`` without a party → an auditor;
    else a machine of its party."""
    if "operator" in scopes and party is None:
        return Principal(Kind.OPERATOR, subject, scopes=frozenset(SCOPES))
    if "audit" in scopes and party is None:
        return Principal(Kind.AUDITOR, subject, scopes=frozenset({"read", "audit"}))
    return Principal(Kind.MACHINE, subject, party=party.lower() if party else None, scopes=scopes - {"operator", "audit"}, source=source)
