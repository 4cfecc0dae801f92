"""Helpers of the portal tests: an API app with its own portal settings, agreements in the read model, SIWE
messages signed by anvil's public test keys, and a scan of the audit log for secrets."""

from __future__ import annotations

import warnings
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.api import create_app
from gateway.models import Agreement, AuditEntry
from gateway.portal.site import Portal, Site
from settle.auth.siwe import Erc1271Check

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CHAIN_ID = 31337
#: the gateway's SETTLE_GATEWAY_API_TOKEN in these tests (an operator API token)
OPERATOR_TOKEN = "stl_portal-operator-token-0123456789"
SITE = Site("http://portal.test")
#: anvil's public test keys 1 (a payer), 2 (a payee) and 3 (no agreement)
PAYER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
PAYEE_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
STRANGER_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"
PAYER = Account.from_key(PAYER_KEY).address.lower()
PAYEE = Account.from_key(PAYEE_KEY).address.lower()
STRANGER = Account.from_key(STRANGER_KEY).address.lower()


def add_agreement(session: Session, address: str, payer: str, payee: str, chain_id: int = CHAIN_ID) -> None:
    session.add(
        Agreement(
            chain_id=chain_id,
            address=address.lower(),
            factory="0x" + "f0" * 20,
            payer=payer.lower(),
            payee=payee.lower(),
            state="active",
            token="0x" + "00" * 20,
            currency="EUR",
            minor_digits=2,
            created_block=1,
            created_tx="0x" + "11" * 32,
            updated_block=1,
        )  # fmt: skip
    )
    session.flush()


def client_for(
    factory: sessionmaker[Session],
    *,
    chain: Any = None,
    chain_id: int | None = CHAIN_ID,
    mailer_factory: Any = None,
    erc1271: Erc1271Check | None = None,
    site: Site = SITE,
    portal: Portal | None = None,
    base_url: str = "http://testserver",
) -> TestClient:
    app = create_app(factory, chain=chain, chain_id=chain_id if chain is None else None, write_token=OPERATOR_TOKEN)
    app.state.portal = portal or Portal(site=site, mailer_factory=mailer_factory or (lambda: None), erc1271=erc1271)
    return TestClient(app, base_url=base_url)


def sign(text: str, key: str) -> str:
    return "0x" + bytes(Account.sign_message(encode_defunct(text=text), key).signature).hex()


def siwe_sign_in(client: TestClient, key: str, **overrides: Any) -> Any:
    address = Account.from_key(key).address
    challenge = client.post("/v1/auth/siwe/nonce", json={"address": address})
    assert challenge.status_code == 200, challenge.text
    text = challenge.json()["message"]
    for old, new in overrides.items():
        text = text.replace(old, new)
    return client.post("/v1/auth/siwe", json={"message": text, "signature": sign(text, key)})


def audit_rows(factory: sessionmaker[Session]) -> list[AuditEntry]:
    with factory() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def audit_text(factory: sessionmaker[Session]) -> str:
    """Every column of every audit entry as one text, to scan for secrets."""
    return "\n".join(f"{r.actor}|{r.party}|{r.action}|{r.target}|{r.outcome}|{r.client}|{r.detail}" for r in audit_rows(factory))
