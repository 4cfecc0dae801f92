"""Against a real anvil with automine off: a report transaction that waits in the pool because the base fee rose is
replaced (same nonce, higher fees) and confirmed once; a replacement over the fee cap waits with one alert; when an
earlier pricing is the one mined, the submitter follows it to confirmation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from oracle_chainkit import agreement_with_report
from sqlalchemy import select
from sqlalchemy.orm import Session

from oracle.alerts import Alerts
from oracle.config import OracleSettings, load_settings
from oracle.models import CONFIRMED, SUBMITTED, Report
from oracle.status import status as oracle_status
from oracle.submit import Submitter
from oracle.txsign import USAGE_REPORTED_TOPIC, FastSigner, decode_type2
from settle.errors import ConfigError
from settle.rpc import Rpc

GWEI = 10**9


def test_the_fee_cap_setting_is_read_exactly_in_wei(monkeypatch: pytest.MonkeyPatch) -> None:
    """``max_fee_gwei`` becomes wei without rounding at any number of digits; finer than a wei is refused."""
    assert OracleSettings().max_fee_wei == 0
    assert OracleSettings(max_fee_gwei=Decimal("1.5")).max_fee_wei == 1_500_000_000
    monkeypatch.setenv("SETTLE_ORACLE_MAX_FEE_GWEI", "1234567890123456789012345678901.123456789")  # 40 significant digits
    assert load_settings().max_fee_wei == 1234567890123456789012345678901123456789
    monkeypatch.setenv("SETTLE_ORACLE_MAX_FEE_GWEI", "0.0000000001")
    with pytest.raises(ConfigError, match=r"^SETTLE_ORACLE_MAX_FEE_GWEI: '0.0000000001' has more than 9 decimal places$"):
        load_settings()


@pytest.fixture()
def manual_mining(chain) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Automine is turned off once the test's contracts are deployed (``_setup``); afterwards it is on again and
    the base fee back where it was (the node's fee state survives the chain fixture's revert)."""
    base_fee = chain.w3.provider.make_request("eth_getBlockByNumber", ["latest", False])["result"]["baseFeePerGas"]
    try:
        yield
    finally:
        chain.w3.provider.make_request("evm_setAutomine", [True])
        chain.w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [base_fee])
        chain.w3.provider.make_request("evm_mine", [])  # nothing left in the pool for the next test


def _setup(chain, accounts, dev, tmp_path, **settings_kw):  # type: ignore[no-untyped-def]
    env = agreement_with_report(chain, accounts, dev, tmp_path, reprice_after=2.0, **settings_kw)
    chain.w3.provider.make_request("evm_setAutomine", [False])
    alerts = Alerts()
    submitter = Submitter(
        env.engine,
        env.settings,
        rpc=Rpc(chain.w3.provider.endpoint_uri),
        chain_id=chain.chain_id,
        signer=FastSigner(env.kit.oracle),
        decoder=chain.decoder,
        clock=env.clock,
        alerts=alerts,
    )
    return env.engine, env.address, submitter, alerts, env.clock


def _report(engine):  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.execute(select(Report)).scalars().one()


def _mine(chain, base_fee_wei: int) -> None:  # type: ignore[no-untyped-def]
    chain.w3.provider.make_request("anvil_setNextBlockBaseFeePerGas", [hex(base_fee_wei)])
    chain.w3.provider.make_request("evm_mine", [])


def _receipt(chain, tx_hash: bytes):  # type: ignore[no-untyped-def]
    return chain.w3.provider.make_request("eth_getTransactionReceipt", ["0x" + tx_hash.hex()])["result"]


def _usage_events(chain, address: str) -> list:  # type: ignore[no-untyped-def]
    flt = {"address": address, "fromBlock": "0x0", "toBlock": "latest", "topics": ["0x" + USAGE_REPORTED_TOPIC.hex()]}
    return chain.w3.provider.make_request("eth_getLogs", [flt])["result"]


def test_a_waiting_transaction_is_replaced_and_confirmed_once(chain, accounts, dev, tmp_path, manual_mining):
    engine, address, submitter, _alerts, clock = _setup(chain, accounts, dev, tmp_path)
    submitter.step()
    first = _report(engine)
    assert first.status == SUBMITTED and first.reprices == 0
    assert first.priced_at.replace(tzinfo=UTC) == datetime.fromtimestamp(clock.now(), UTC)  # the injected clock's time
    old_fee = decode_type2(first.raw_tx).max_fee
    _mine(chain, 20 * old_fee)  # the base fee jumps: the transaction cannot be included
    assert _receipt(chain, first.tx_hash) is None
    clock.advance(3)  # the injected clock: past reprice_after (2 s)
    submitter.step()
    second = _report(engine)
    assert second.reprices == 1 and second.nonce == first.nonce and second.tx_hash != first.tx_hash
    new = decode_type2(second.raw_tx)
    assert new.max_fee >= 2 * 20 * old_fee and new.max_fee >= old_fee * 9 // 8 and new.data == decode_type2(first.raw_tx).data
    _mine(chain, 20 * old_fee)
    submitter.step()
    done = _report(engine)
    assert done.status == CONFIRMED and done.tx_hash == second.tx_hash
    assert oracle_status(engine)["waiting"] == []
    assert _receipt(chain, first.tx_hash) is None  # the first pricing was never mined
    assert len(_usage_events(chain, address)) == 1
    assert chain.call(chain.contract("BillingAgreement", address).functions.usage(0, 0)) == 35
    engine.dispose()


def test_a_replacement_over_the_fee_cap_waits_with_one_alert(chain, accounts, dev, tmp_path, manual_mining):
    engine, _address, submitter, alerts, clock = _setup(chain, accounts, dev, tmp_path, max_fee_gwei=Decimal(1000))
    submitter.step()
    first = _report(engine)
    _mine(chain, 600 * GWEI)  # replacing needs 2 × 600 gwei + tip: over the 1,000 gwei cap
    for _ in range(2):
        clock.advance(3)  # the injected clock: past reprice_after (2 s)
        submitter.step()
    waiting = _report(engine)
    assert waiting.status == SUBMITTED and waiting.tx_hash == first.tx_hash and waiting.reprices == 0
    assert "above the cap" in (waiting.error or "")
    assert [a["alert"] for a in alerts.sent] == ["fee_cap"]
    (shown,) = oracle_status(engine)["waiting"]  # settle oracle status lists it
    assert shown["report"] == waiting.id and "above the cap" in shown["error"]
    # fees fall again: the stored transaction (re-broadcast if the node dropped it meanwhile) is mined
    low = decode_type2(first.raw_tx).max_fee // 4
    _mine(chain, low)
    submitter.step()
    _mine(chain, low)
    submitter.step()
    assert _report(engine).status == CONFIRMED
    engine.dispose()


def test_when_an_earlier_pricing_is_mined_the_submitter_follows_it(chain, accounts, dev, tmp_path, manual_mining, monkeypatch):
    engine, address, submitter, _alerts, clock = _setup(chain, accounts, dev, tmp_path)
    submitter.step()
    first = _report(engine)
    old_fee = decode_type2(first.raw_tx).max_fee
    _mine(chain, 20 * old_fee)
    clock.advance(3)  # the injected clock: past reprice_after (2 s)
    # the replacement is stored, then the process dies before broadcasting it
    real = Submitter._broadcast
    monkeypatch.setattr(Submitter, "_broadcast", lambda self, txs, again=False: real(self, txs, again=again) if again else None)
    submitter.step()
    monkeypatch.undo()
    assert _report(engine).reprices == 1
    # fees fall, and the first pricing, still in another node's pool, comes back and is mined
    _mine(chain, old_fee // 4)
    chain.w3.provider.make_request("eth_sendRawTransaction", ["0x" + first.raw_tx.hex()])
    _mine(chain, old_fee // 4)
    assert _receipt(chain, first.tx_hash) is not None
    submitter.step()  # the stored replacement is unknown and its nonce used: the report's event names the carrier
    submitter.step()
    done = _report(engine)
    assert done.status == CONFIRMED and done.tx_hash == first.tx_hash
    assert len(_usage_events(chain, address)) == 1
    engine.dispose()
