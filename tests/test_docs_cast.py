"""docs/reading-with-cast.md says its outputs are real: this test builds its worked example on a fresh anvil and runs
every ``$ cast …`` command of the page's console blocks, comparing what cast prints with what the page shows.

To refresh the page after a contract change: ``python tests/test_docs_cast.py`` prints every command with its
output, in the page's order.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from eth_utils import keccak

from gateway.banking.references import bank_reference_hash, end_to_end_id, payment_anchor
from settle.chain import Chain, DevChain, dev_accounts
from settle.deployments import Deployments
from settle.networks import Network
from settle.node import start_node
from settle.operator import Session, accept, create_agreement, deploy_factory, grant_role
from settle.spec import parse_spec
from settle.toolchain import npm_tool

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reading-with-cast.md"

START = int(datetime(2030, 10, 1, tzinfo=UTC).timestamp())
SETTLED_AT = int(datetime(2030, 11, 4, 9, 30, tzinfo=UTC).timestamp())
READ_AT = int(datetime(2030, 11, 20, 12, 0, tzinfo=UTC).timestamp())


class Example:
    """The page's agreement: examples/api-plan.yaml from 2030-10-01, open-ended; October settled, 50.00 EUR paid."""

    def __init__(self, rpc_url: str, folder: Path):
        self.rpc_url = rpc_url
        chain = Chain.connect(rpc_url)
        self.chain = chain
        dev = DevChain(chain)
        network = Network(name="doc", rpc_url=rpc_url, chain_id=chain.chain_id, dev=True)
        deployments = Deployments(chain.chain_id, folder)

        def session(account: int) -> Session:
            return Session(network, chain, deployments, chain.dev_accounts(10)[account], False, lambda _line: None)

        operator, payer, payee = session(0), session(1), session(2)
        self.factory = deploy_factory(operator).result["factory"]
        data = yaml.safe_load((ROOT / "examples" / "api-plan.yaml").read_text())
        data["start"] = "2030-10-01"
        data.pop("end", None)
        spec = parse_spec(data)
        self.agreement = create_agreement(operator, spec).result["agreement"]
        accept(payer, self.agreement)
        accept(payee, self.agreement)
        oracle, gateway = dev_accounts(6)[4], dev_accounts(6)[5]
        grant_role(operator, "oracle", oracle.address)
        grant_role(operator, "gateway", gateway.address)
        contract = chain.contract("IBillingAgreement", self.agreement)
        dev.advance_to(START + 20 * 86_400)
        chain.transact(contract.functions.reportUsage(0, keccak(text="oct"), keccak(text="oct-root"), 0, [(0, 25_000), (1, 340)]), oracle)
        dev.advance_to(SETTLED_AT - 1)  # estimates run at the latest block's time
        dev.set_next_timestamp(SETTLED_AT)
        chain.transact(contract.functions.settle(0), payee.sender)
        # What the gateway anchors: end-to-end id, amount and value date, as both statements show them.
        self.anchor = payment_anchor(end_to_end_id(chain.chain_id, self.agreement, 0), 5_000, 2, "EUR", date(2030, 11, 6))
        chain.transact(contract.functions.confirmPayment(0, 5_000, bytes.fromhex(bank_reference_hash(self.anchor)[2:])), gateway)
        chain.transact(contract.functions.reportUsage(1, keccak(text="nov"), keccak(text="nov-root"), 0, [(0, 4_200), (1, 120)]), oracle)
        dev.mine(READ_AT)

    def run(self, command: str) -> str:
        """One ``cast …`` line of the page, with its shell variables set as the page sets them."""
        env_vars = {"A": self.agreement, "F": self.factory, "T": _terms_type()}
        expanded = re.sub(r"\$(\w+)", lambda m: env_vars.get(m.group(1), m.group(0)), command)
        args = _split(expanded)
        assert args[0] == "cast", command
        rpc = ["--rpc-url", self.rpc_url] if args[1] != "keccak" else []
        proc = subprocess.run([npm_tool("cast"), *args[1:], *rpc], capture_output=True, text=True)
        assert proc.returncode == 0, (command, proc.stderr)
        return proc.stdout.rstrip("\n")


def _terms_type() -> str:
    return re.search(r"^T='([^']+)'$", DOC.read_text(), re.M).group(1)  # type: ignore[union-attr]


def _split(command: str) -> list[str]:
    import shlex

    return shlex.split(command)


def console_blocks() -> list[tuple[str, str]]:
    """(command, expected output) for every ``$ cast call …`` in the page's console blocks."""
    pairs = []
    for block in re.findall(r"```console\n(.*?)```", DOC.read_text(), re.S):
        command, output = None, []
        for line in block.splitlines():
            if line.startswith("$ "):
                if command is not None:
                    pairs.append((command, "\n".join(output)))
                command, output = line[2:], []
            else:
                output.append(line)
        if command is not None:
            pairs.append((command, "\n".join(output)))
    return [(c, o) for c, o in pairs if c.startswith(("cast call ", 'cast keccak "'))]


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Iterator[Example]:
    with start_node("anvil") as node:
        yield Example(node.url, tmp_path_factory.mktemp("doc-deployments"))


def test_the_page_names_the_example_addresses(example) -> None:
    text = DOC.read_text()
    assert f"A={example.agreement}" in text


def test_the_payment_anchor_recipe_finds_the_payment(example) -> None:
    """The page's `cast keccak` of end-to-end id, amount and value date is the bankRefHash on-chain."""
    (keccak_line,) = [c for c, _ in console_blocks() if c.startswith("cast keccak ")]
    assert example.anchor in keccak_line
    event = example.chain.contract("IBillingAgreement", example.agreement).events.PaymentConfirmed().get_logs(from_block=0)[0]
    assert example.run(keccak_line) == "0x" + bytes(event["args"]["bankRefHash"]).hex()


def test_every_cast_call_of_the_page_prints_what_the_page_shows(example) -> None:
    pairs = console_blocks()
    assert len(pairs) >= 8
    for command, expected in pairs:
        assert example.run(command) == expected.rstrip("\n"), command


if __name__ == "__main__":
    with start_node("anvil") as node:
        import tempfile

        ex = Example(node.url, Path(tempfile.mkdtemp()))
        print(f"A={ex.agreement}\nF={ex.factory}")
        for command, _expected in console_blocks():
            print(f"$ {command}\n{ex.run(command)}")
        sys.exit(0)
