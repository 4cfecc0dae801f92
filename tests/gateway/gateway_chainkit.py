"""A factory, agreements, master data and a gateway on the test chain, for the gateway's chain-facing tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.contract import Contract

from gateway.chain.onchain import read_agreement
from gateway.database import open_database, unit_of_work
from gateway.invoicing.issuance import MeterInfo
from gateway.parties import masterdata as parties
from gateway.service import Gateway
from gateway.settings import GatewaySettings
from settle.chain import Chain, DevChain
from settle.terms import IntervalKind, Meter, Terms

HOUR = 3_600
DAY = 86_400
IBANS = ["DE89370400440532013000", "DE02120300000000202051", "DE12500105170648489890", "DE02100500000054540402"]
CREDITOR_IDS = ["DE98ZZZ09999999999", "DE09ZZZ00000000001"]


@dataclass
class Kit:
    chain: Chain
    dev: DevChain
    factory: Contract
    admin: LocalAccount
    oracle: LocalAccount
    gateway: LocalAccount
    payers: list[LocalAccount]
    payees: list[LocalAccount]
    token: Contract | None = None
    agreements: list[str] = field(default_factory=list)

    def agreement(self, address: str) -> Contract:
        return self.chain.contract("IBillingAgreement", address)


def deploy(chain: Chain, *, with_token: bool = False) -> Kit:
    accounts = chain.dev_accounts(10)
    admin, oracle, gateway = accounts[0], accounts[1], accounts[2]
    factory = chain.deploy("AgreementFactory", admin.address, sender=admin)
    f = factory.functions
    chain.transact(f.setSignerDelay(0), admin)
    chain.transact(f.grantRole(chain.call(f.OPERATOR_ROLE()), admin.address), admin)
    chain.transact(f.grantRole(chain.call(f.ORACLE_ROLE()), oracle.address), admin)
    chain.transact(f.grantRole(chain.call(f.GATEWAY_ROLE()), gateway.address), admin)
    kit = Kit(chain, DevChain(chain), factory, admin, oracle, gateway, [accounts[3], accounts[5]], [accounts[4], accounts[6]])
    if with_token:
        token = chain.deploy("TestToken", "Euro Test Token", "EURT", 2, sender=admin)
        chain.transact(f.setTokenAllowed(token.address, True), admin)
        kit.token = token
    return kit


def hourly_terms(start: int, *, token: str | None = None, minimum: int = 0, grace: int = 0, payment_days: int = 0) -> Terms:
    """One per-unit meter (0.10 a unit), one-hour periods: many periods end quickly."""
    return Terms(
        token=token or "0x" + "00" * 20,
        currency="EUR",
        minor_digits=2,
        interval_kind=IntervalKind.FIXED_SECONDS,
        interval=HOUR,
        start=start,
        grace_seconds=grace,
        payment_terms_days=payment_days,
        dispute_window_seconds=DAY,
        minimum_commitment=minimum,
        meters=(Meter.per_unit(10),),
    )


def create(kit: Kit, terms: Terms, salt: int, pair: int = 0, *, parties: tuple[LocalAccount, LocalAccount] | None = None) -> str:
    """A new active agreement between payer/payee ``pair`` (or the given ``(payer, payee)``)."""
    chain = kit.chain
    payer, payee = parties or (kit.payers[pair], kit.payees[pair])
    receipt = chain.transact(
        kit.factory.functions.createAgreement(payer.address, payee.address, terms.to_abi(), keccak(salt.to_bytes(32, "big"))), kit.admin
    )
    address = kit.factory.events.AgreementCreated().process_receipt(receipt)[0]["args"]["agreement"]
    for party in (payer, payee):
        chain.transact(kit.agreement(address).functions.accept(1, terms.terms_hash()), party)
    kit.agreements.append(address)
    return address


def report(kit: Kit, agreement: str, period: int, quantity: int, report_no: int) -> None:
    fn = kit.agreement(agreement).functions.reportUsage(period, report_no.to_bytes(32, "big"), b"\x11" * 32, 0, [(0, quantity)])
    kit.chain.transact(fn, kit.oracle)


def master_data(database_url: str, kit: Kit, methods: dict[str, tuple[str, int]]) -> None:
    """Parties with accounts (payees collect: creditor ids and mandates), and a payment method per agreement:
    ``methods[address] = (kind, pair)``."""
    # Signed shortly before the chain's present: a fixed date would make the mandate lapse (36 months unused) as the
    # calendar moves on.
    signed_on = datetime.fromtimestamp(kit.dev.now(), UTC).date() - timedelta(days=60)
    engine, factory = open_database(database_url)
    try:
        with unit_of_work(factory, "test") as session:
            for pair, (payer, payee) in enumerate(zip(kit.payers, kit.payees, strict=True)):
                parties.add_party(
                    session,
                    address=payer.address,
                    legal_name=f"Payer {pair} GmbH",
                    country="DE",
                    street=f"Kundenweg {pair + 1}",
                    postal_code="10115",
                    city="Berlin",
                    vat=f"DE10000000{pair}",
                    contact_email=f"ap{pair}@payer.example",
                    buyer_reference=f"PO-{pair}",
                )
                parties.add_bank_account(session, payer.address, iban_value=IBANS[2 * pair])
                parties.add_party(
                    session,
                    address=payee.address,
                    legal_name=f"Payee {pair} AG",
                    country="DE",
                    creditor_id=CREDITOR_IDS[pair],
                    street=f"Lieferstrasse {pair + 1}",
                    postal_code="80802",
                    city="Muenchen",
                    vat=f"DE20000000{pair}",
                    contact_name="Billing",
                    contact_phone="+49 89 1234567",
                    contact_email=f"billing{pair}@payee.example",
                )
                parties.add_bank_account(session, payee.address, iban_value=IBANS[2 * pair + 1])
                parties.add_mandate(session, debtor=payer.address, creditor=payee.address, reference=f"MANDATE-{pair}", signed_on=signed_on)
            for address, (kind, pair) in methods.items():
                onchain = read_agreement(kit.chain, address, factory=kit.factory.address)
                assert (onchain.payer, onchain.payee) == (kit.payers[pair].address.lower(), kit.payees[pair].address.lower())
                parties.set_payment_method(session, onchain, kind=kind, mandate=f"MANDATE-{pair}" if kind == "sepa_dd" else None)
    finally:
        engine.dispose()


def kit_meters(chain_id: int, agreement: str) -> tuple[MeterInfo, ...]:
    """What a deployment record would say about the kit's agreements' one meter (they have no record)."""
    return (MeterInfo("Units", "unit", "C62"),)


def settings(database_url: str, kit: Kit, folder: Path, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "factory": kit.factory.address,
        "dev_account": 2,
        "files_dir": folder / "files",
        "bank_outbox": folder / "bank" / "outbox",
        "bank_inbox": folder / "bank" / "inbox",
        "clock": "chain",
        "confirmations": 0,
        "lease_seconds": 2.0,
        "receipt_timeout": 10.0,
        "poll_seconds": 0.05,
        "collect_retry_seconds": [0.0, 0.0],
        "invoice_dir": folder / "invoices",
        "invoice_recheck_seconds": 0.0,
    }
    values.update(overrides)
    return GatewaySettings(**values)


def gateway(database_url: str, kit: Kit, folder: Path, **overrides: Any) -> Gateway:
    made = Gateway(settings(database_url, kit, folder, **overrides), chain=kit.chain)
    made.meter_lookup = kit_meters
    return made
