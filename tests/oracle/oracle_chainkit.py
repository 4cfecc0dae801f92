"""Deploy a factory and active agreements on the test chain for the oracle's integration tests."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.contract import Contract

from settle.chain import Chain
from settle.terms import Meter, Terms

DAY = 86_400


@dataclass
class Kit:
    chain: Chain
    factory: Contract
    admin: LocalAccount
    oracle: LocalAccount
    payer: LocalAccount
    payee: LocalAccount


def deploy(chain: Chain, accounts) -> Kit:  # type: ignore[no-untyped-def]
    admin, oracle, payer, payee = accounts[0], accounts[1], accounts[2], accounts[3]
    factory = chain.deploy("AgreementFactory", admin.address, sender=admin)
    chain.transact(factory.functions.grantRole(factory.functions.OPERATOR_ROLE().call(), admin.address), admin)
    chain.transact(factory.functions.grantRole(factory.functions.ORACLE_ROLE().call(), oracle.address), admin)
    return Kit(chain, factory, admin, oracle, payer, payee)


def terms(start: int, *, meters: int = 2, interval_seconds: int = 30 * DAY, grace: int = 3 * DAY) -> Terms:
    return Terms(
        currency="EUR",
        minor_digits=2,
        interval_kind=1,
        interval=interval_seconds,
        start=start,
        grace_seconds=grace,
        payment_terms_days=14,
        dispute_window_seconds=7 * DAY,
        meters=tuple(Meter.per_unit(10 + i) for i in range(meters)),
    )


def create(kit: Kit, t: Terms, salt: int) -> str:
    """A new agreement with terms ``t``, accepted by both parties (Active)."""
    chain, factory = kit.chain, kit.factory
    receipt = chain.transact(
        factory.functions.createAgreement(kit.payer.address, kit.payee.address, t.to_abi(), keccak(salt.to_bytes(32, "big"))), kit.admin
    )
    address = factory.events.AgreementCreated().process_receipt(receipt)[0]["args"]["agreement"]
    agreement = chain.contract("BillingAgreement", address)
    for party in (kit.payer, kit.payee):
        chain.transact(agreement.functions.accept(1, t.terms_hash()), party)
    return address
