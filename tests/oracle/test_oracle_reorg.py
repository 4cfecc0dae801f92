"""Reorgs against a real anvil (``anvil_reorg`` replaces the latest blocks): a report mined in a block that a reorg
removes is sent again (the same signed bytes, so the same transaction and nonce) and confirmed once on the new
chain; one the reorg puts back into the pool is followed there until it is mined again. Confirmation waits for
the configured depth, so a report is never booked from a block that is then replaced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from oracle_chainkit import agreement_with_report
from sqlalchemy import select
from sqlalchemy.orm import Session

from oracle.alerts import Alerts
from oracle.models import CONFIRMED, SUBMITTED, Report
from oracle.submit import Submitter
from oracle.txsign import USAGE_REPORTED_TOPIC, FastSigner
from settle.rpc import Rpc

DEPTH = 2  # confirmations: a report mined in the newest block is not booked yet


def _setup(chain, accounts, dev, tmp_path):  # type: ignore[no-untyped-def]
    env = agreement_with_report(chain, accounts, dev, tmp_path)
    submitter = Submitter(
        env.engine,
        env.settings,
        rpc=Rpc(chain.w3.provider.endpoint_uri),
        chain_id=chain.chain_id,
        signer=FastSigner(env.kit.oracle),
        confirmations=DEPTH,
        decoder=chain.decoder,
        clock=env.clock,
        alerts=Alerts(),
    )
    return env, submitter


def _report(engine) -> Report:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.execute(select(Report)).scalars().one()


def _rpc(chain, method: str, *params):  # type: ignore[no-untyped-def]
    reply = chain.w3.provider.make_request(method, list(params))
    assert "error" not in reply, reply
    return reply["result"]


def _block_hash(chain, number: int) -> bytes:  # type: ignore[no-untyped-def]
    return bytes.fromhex(_rpc(chain, "eth_getBlockByNumber", hex(number), False)["hash"][2:])


def _usage_events(chain, address: str) -> list:  # type: ignore[no-untyped-def]
    flt = {"address": address, "fromBlock": "0x0", "toBlock": "latest", "topics": ["0x" + USAGE_REPORTED_TOPIC.hex()]}
    return _rpc(chain, "eth_getLogs", flt)


@pytest.fixture()
def automine(chain) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Automine is on again after a test that turned it off."""
    try:
        yield
    finally:
        _rpc(chain, "evm_setAutomine", True)


def test_a_report_mined_in_a_block_a_reorg_removes_is_sent_again_and_confirmed_once(chain, accounts, dev, tmp_path):
    env, submitter = _setup(chain, accounts, dev, tmp_path)
    submitter.step()  # signed, sent and mined (automine): one block deep, not booked
    mined = _report(env.engine)
    assert mined.status == SUBMITTED and mined.block_number is not None
    assert mined.block_hash == _block_hash(chain, mined.block_number)

    _rpc(chain, "anvil_reorg", 1, [])  # the block holding it is replaced by an empty one: the transaction is gone
    assert _rpc(chain, "eth_getTransactionByHash", "0x" + mined.tx_hash.hex()) is None
    assert _block_hash(chain, mined.block_number) != mined.block_hash

    round_ = submitter.step()  # unknown to the node and its nonce unused: the stored bytes are broadcast again
    assert round_.rebroadcast == 1 and round_.signed == 0
    again = _report(env.engine)
    assert again.status == SUBMITTED and again.tx_hash == mined.tx_hash and again.nonce == mined.nonce
    assert again.block_number is not None and again.block_number != mined.block_number
    dev.mine()  # deep enough now
    submitter.step()
    done = _report(env.engine)
    assert done.status == CONFIRMED and done.tx_hash == mined.tx_hash
    assert done.block_hash == _block_hash(chain, done.block_number) != mined.block_hash
    (event,) = _usage_events(chain, env.address)  # once, on the chain that stands
    assert event["transactionHash"] == "0x" + mined.tx_hash.hex()
    assert chain.call(chain.contract("BillingAgreement", env.address).functions.usage(0, 0)) == 35
    assert int(_rpc(chain, "eth_getTransactionCount", env.kit.oracle.address, "latest"), 16) == 1
    env.engine.dispose()


def test_a_report_a_reorg_puts_back_in_the_pool_is_followed_until_mined_again(chain, accounts, dev, tmp_path, automine):
    env, submitter = _setup(chain, accounts, dev, tmp_path)
    _rpc(chain, "evm_setAutomine", False)
    submitter.step()
    sent = _report(env.engine)
    assert sent.status == SUBMITTED and sent.block_number is None
    dev.mine()
    submitter.step()
    mined = _report(env.engine)
    assert mined.block_number is not None and mined.status == SUBMITTED

    _rpc(chain, "anvil_reorg", 1, [])  # its block is replaced ...
    _rpc(chain, "eth_sendRawTransaction", "0x" + sent.raw_tx.hex())  # ... and the transaction waits in the pool again
    round_ = submitter.step()
    pending = _report(env.engine)
    assert pending.status == SUBMITTED and pending.block_number is None and pending.block_hash is None  # not mined any more
    assert round_.rebroadcast == 0 and round_.signed == 0 and pending.tx_hash == sent.tx_hash

    dev.mine()
    submitter.step()
    assert _report(env.engine).status == SUBMITTED  # one block deep on the new chain
    dev.mine()
    submitter.step()
    done = _report(env.engine)
    assert done.status == CONFIRMED and done.tx_hash == sent.tx_hash
    assert done.block_hash == _block_hash(chain, done.block_number) != mined.block_hash
    assert len(_usage_events(chain, env.address)) == 1
    assert chain.call(chain.contract("BillingAgreement", env.address).functions.usage(0, 0)) == 35
    env.engine.dispose()
