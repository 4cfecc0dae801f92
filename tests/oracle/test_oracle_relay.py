"""Relayed reports against a real anvil: the oracle key signs each report (EIP-712), a relayer without any role
sends it and pays the gas; the digest and calldata equal what the contract computes and decodes."""

from __future__ import annotations

import os

import pytest
from eth_account import Account
from oracle_chainkit import agreement_with_report

from oracle.submit import Submitter
from oracle.txsign import FastSigner, encode_report_usage_with_signature, report_digest
from settle.errors import ConfigError
from settle.rpc import Rpc


def _submitter(chain, env, relayer, reporter) -> Submitter:  # type: ignore[no-untyped-def]
    return Submitter(
        env.engine,
        env.settings,
        rpc=Rpc(chain.w3.provider.endpoint_uri),
        chain_id=chain.chain_id,
        signer=FastSigner(relayer),
        reporter=FastSigner(reporter),
        decoder=chain.decoder,
        clock=env.clock,
    )


def test_digest_and_calldata_equal_the_contracts(chain, accounts, dev, tmp_path):
    env = agreement_with_report(chain, accounts, dev, tmp_path)
    agreement = chain.contract("BillingAgreement", env.address)
    report_id, root = os.urandom(32), os.urandom(32)
    for usages, epoch, since in (
        ([(0, 5)], 0, 1),
        ([(0, 2**64 - 1), (1, 0)], 65_535, 2**40 - 1),
        ([(0, 1), (1, 2), (2, 3)], 7, 1_700_000_000),
    ):
        expected = chain.call(agreement.functions.usageReportDigest(7, report_id, root, epoch, since, usages))
        assert report_digest(chain.chain_id, env.address, 7, report_id, root, epoch, since, usages) == bytes(expected)
        signature = bytes(range(65))
        data = encode_report_usage_with_signature(7, report_id, root, epoch, since, usages, signature)
        built = agreement.encode_abi("reportUsageWithSignature", args=(7, report_id, root, epoch, since, usages, signature))
        assert "0x" + data.hex() == built
    env.engine.dispose()


def test_a_relayer_sends_reports_the_oracle_signed(chain, accounts, dev, tmp_path):
    env = agreement_with_report(chain, accounts, dev, tmp_path)
    relayer = accounts[7]  # holds no role on the factory
    submitter = _submitter(chain, env, relayer, env.kit.oracle)
    oracle_balance = chain.w3.eth.get_balance(env.kit.oracle.address)
    submitter.run(once=True)
    assert submitter.outstanding() == 0
    assert chain.call(chain.contract("BillingAgreement", env.address).functions.usage(0, 0)) == 35
    assert chain.w3.eth.get_balance(env.kit.oracle.address) == oracle_balance  # the relayer paid the gas
    env.engine.dispose()


def test_a_report_signed_without_the_oracle_role_stops_the_submitter(chain, accounts, dev, tmp_path):
    env = agreement_with_report(chain, accounts, dev, tmp_path)
    stranger = Account.create()
    submitter = _submitter(chain, env, accounts[7], stranger)
    with pytest.raises(ConfigError, match=f"signer {stranger.address} cannot report to {env.address}"):
        submitter.run(once=True)
    env.engine.dispose()


def test_the_service_wires_signer_and_relayer(chain, accounts, rpc_url, tmp_path):
    from oracle.config import OracleSettings
    from oracle.service import Oracle

    settings = OracleSettings(database_url=f"sqlite:///{tmp_path / 'o.db'}", network=rpc_url, dev_account=1, relay_dev_account=7)
    submitter = Oracle(settings).submitter()
    assert submitter.signer.address == accounts[7].address  # sends and pays
    assert submitter.reporter is not None and submitter.reporter.address == accounts[1].address  # signs reports
    alone = Oracle(settings.model_copy(update={"relay_dev_account": None})).submitter()
    assert alone.signer.address == accounts[1].address and alone.reporter is None
