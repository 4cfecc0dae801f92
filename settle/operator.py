"""Operator actions on the factory and on agreements: deploy, create, accept, amend, pause, terminate, roles, and
the parties' dispute actions (dispute, resolve, decide, write off).

Every action goes through :meth:`Session.execute`: it encodes the call, prints it decoded, estimates the gas (a
revert surfaces here, decoded and explained, before anything is signed), and sends it unless ``dry_run``. The
scripts in ``scripts/`` and ``settle agreement …`` are thin front ends to the functions below.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from settle.chain import Chain
from settle.chaintypes import AgreementState, AgreementStatus, PaymentStatus, SettlementView
from settle.deployments import Deployments, resolve_agreement
from settle.errors import ChainError, ConfigError, ContractRevert, ValidationError
from settle.keys import resolve_account
from settle.money import format_minor, parse_minor, to_decimal
from settle.networks import Network, get_network
from settle.reverts import ROLE_NAMES, explain, role_name
from settle.spec import AgreementSpec, SpecError, TokenInfo, TokenResolver, format_duration, format_timestamp, terms_document
from settle.terms import Terms

__all__ = [
    "ACCEPT_TYPES",
    "ROLES",
    "Outcome",
    "Session",
    "accept",
    "allow_token",
    "amend",
    "create_agreement",
    "decide_dispute",
    "deploy_factory",
    "dispute",
    "grant_role",
    "pause",
    "reject_amendment",
    "resolve_dispute",
    "resume",
    "revoke_role",
    "sign_acceptance",
    "submit_signature",
    "terminate",
    "write_off",
]

#: Role names on the command line → role hashes (``admin`` is AccessControl's DEFAULT_ADMIN_ROLE).
ROLES: dict[str, bytes] = {name: role for role, name in ROLE_NAMES.items()}

#: EIP-712 types of an acceptance (IBillingAgreement.acceptWithSignature).
ACCEPT_TYPES = {
    "Accept": [
        {"name": "party", "type": "address"},
        {"name": "role", "type": "uint8"},
        {"name": "version", "type": "uint16"},
        {"name": "termsHash", "type": "bytes32"},
        {"name": "deadline", "type": "uint256"},
    ]
}
EIP712_NAME = "Settle BillingAgreement"
EIP712_VERSION = "1"
#: v2: the signed struct names the party and its role (1 payer, 2 payee); v1 files cannot verify any more.
SIGNATURE_FILE_KIND = "settle.accept-signature/v2"


@dataclass
class Outcome:
    """What an action did (or, on a dry run, would do)."""

    action: str
    gas: int
    dry_run: bool
    tx_hash: str | None = None
    block: int | None = None
    gas_used: int | None = None
    result: dict[str, Any] = field(default_factory=dict)
    receipt: TxReceipt | None = field(default=None, repr=False)


@dataclass
class Session:
    """A network connection, the signer, the deployment record and how to report: what every action needs."""

    network: Network
    chain: Chain
    deployments: Deployments
    signer: LocalAccount | None = None
    dry_run: bool = False
    say: Callable[[str], None] = print

    @classmethod
    def open(
        cls,
        network: str | None = None,
        *,
        keystore: str | Path | None = None,
        dev_account: int | None = None,
        dry_run: bool = False,
        say: Callable[[str], None] = print,
        need_signer: bool = True,
        chain: Chain | None = None,
    ) -> Session:
        """Connect to ``network`` (a name from networks.yaml or an RPC URL) and load the signer."""
        net = get_network(network)
        chain = chain or net.connect()
        signer = None
        if need_signer or keystore or dev_account is not None:
            signer = resolve_account(chain, keystore=str(keystore) if keystore else None, dev_account=dev_account)
        return cls(net, chain, Deployments(chain.chain_id), signer, dry_run, say)

    # -- helpers -------------------------------------------------------------------------------------------------

    @property
    def sender(self) -> LocalAccount:
        if self.signer is None:
            raise ConfigError("no signer: pass --keystore FILE (or --dev-account N on a development chain)")
        return self.signer

    def factory(self, address: str | None = None) -> Contract:
        return self.chain.contract("IAgreementFactory", address or self.deployments.require_factory())

    def agreement(self, ref: str) -> Contract:
        address = resolve_agreement(self.deployments, ref)
        if self.chain.w3.eth.get_code(address) in (b"", b"\x00"):
            raise ConfigError(f"no contract at {address} on chain {self.chain.chain_id}: check the address and --network")
        return self.chain.contract("IBillingAgreement", address)

    def token_resolver(self) -> TokenResolver:
        return lambda ref: resolve_token(self.chain, self.deployments, ref)

    def execute(
        self, contract: Contract, fn: ContractFunction, action: str, *, label: str | None = None, note: bytes | None = None
    ) -> Outcome:
        """Show the decoded call and its gas estimate; send it unless this is a dry run. ``note``: the hash of a text
        to append after the arguments (see :mod:`settle.disputes`)."""
        tx = {"to": fn.address, "data": fn._encode_transaction_data()}
        description = describe_call(contract, tx["data"], label or _contract_label(self, contract))
        if note is not None:
            from settle.disputes import with_note

            tx["data"] = with_note(tx["data"], note)
            description.append(f"  + note hash 0x{note.hex()} after the arguments (the contract ignores it; the text stays off-chain)")
        return self._run(tx, action, description)

    def deploy_contract(self, name: str, *args: Any, action: str) -> tuple[Outcome, str | None]:
        from settle.compiler import load_artifact

        artifact = load_artifact(name)
        factory = self.chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        data = factory.constructor(*args).build_transaction({"gas": 1, "gasPrice": 0, "nonce": 0, "chainId": self.chain.chain_id})["data"]
        shown = ", ".join(_show_value(a) for a in args)
        outcome = self._run({"data": data}, action, [f"deploy {name}({shown})", f"  init code {(len(data) - 2) // 2:,} bytes"])
        address = None
        if outcome.receipt is not None and outcome.receipt["contractAddress"] is not None:
            address = to_checksum_address(outcome.receipt["contractAddress"])
        return outcome, address

    def _run(self, tx: dict[str, Any], action: str, description: list[str]) -> Outcome:
        sender = self.sender
        self.say(f"{action} on {self.network.name} (chain {self.chain.chain_id}) from {sender.address}")
        for line in description:
            self.say(f"  {line}")
        try:
            gas = self.chain.estimate(tx, sender.address)
        except ContractRevert as exc:
            raise ContractRevert(explain(exc, action), error_name=exc.error_name, args=exc.error_args, data=exc.data) from None
        except ChainError as exc:
            raise ChainError(f"{action}: the node refused the gas estimate: {exc}") from None
        max_fee = self.chain.fees()["maxFeePerGas"]
        self.say(f"  gas estimate {gas:,} (at most {_units(gas * max_fee, 18)} ETH at {_units(max_fee, 9)} gwei)")
        if self.dry_run:
            self.say("  dry run: nothing sent")
            return Outcome(action, gas, True)
        try:
            receipt = self.chain.send({**tx, "gas": gas + gas // 5 + 10_000}, sender)
        except ContractRevert as exc:
            raise ContractRevert(explain(exc, action), error_name=exc.error_name, args=exc.error_args, data=exc.data) from None
        tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
        self.say(f"  sent: tx {tx_hash} in block {receipt['blockNumber']} (gas used {receipt['gasUsed']:,})")
        return Outcome(action, gas, False, tx_hash, int(receipt["blockNumber"]), int(receipt["gasUsed"]), receipt=receipt)


def _units(value: int, decimals: int) -> str:
    """``value`` × 10^-decimals without trailing zeros, at most 6 decimals shown (``'0.000434'``)."""
    shown = to_decimal(value, decimals).quantize(Decimal("0.000001"), rounding=ROUND_UP)
    return f"{shown.normalize():f}"


# -- lookups ------------------------------------------------------------------------------------------------------------


def resolve_token(chain: Chain, deployments: Deployments, ref: str) -> TokenInfo:
    """A token from the deployment record (by symbol or address), else read from the chain (by address)."""
    tokens: dict[str, dict[str, Any]] = deployments.data.get("tokens", {}) or {}
    if is_address(ref):
        address = to_checksum_address(ref)
        for symbol, record in tokens.items():
            if to_checksum_address(record["address"]) == address:
                return TokenInfo(address, int(record["decimals"]), symbol, record.get("currency"))
        if chain.w3.eth.get_code(address) in (b"", b"\x00"):
            raise SpecError([f"{address} has no contract on chain {chain.chain_id}"])
        token = chain.contract("TestToken", address)  # any ERC-20 ABI with decimals() and symbol()
        try:
            decimals = int(chain.call(token.functions.decimals()))
        except Exception:  # noqa: BLE001 - whatever went wrong, it is not a usable ERC-20
            raise SpecError([f"{address} does not answer decimals(): is it an ERC-20?"]) from None
        return TokenInfo(address, decimals)
    for symbol, record in tokens.items():
        if symbol.lower() == ref.lower():
            return TokenInfo(to_checksum_address(record["address"]), int(record["decimals"]), symbol, record.get("currency"))
    known = ", ".join(sorted(tokens)) or "none"
    raise SpecError([f"{ref!r} is not a token recorded in {deployments.path} (recorded: {known}); give its address instead"])


def _contract_label(session: Session, contract: Contract) -> str:
    address = to_checksum_address(contract.address)
    if session.deployments.factory and to_checksum_address(session.deployments.factory) == address:
        return f"AgreementFactory {address}"
    record = session.deployments.agreements().get(address)
    if record and (record.get("name") or record.get("reference")):
        return f"agreement {address} ({record.get('name') or record.get('reference')})"
    return f"contract {address}"


def _show_value(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and is_address(value):
        return to_checksum_address(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show_value(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def describe_call(contract: Contract, data: str | bytes, target: str) -> list[str]:
    """The call decoded back from its calldata: function, arguments by name, terms in the spec's notation."""
    fn, args = contract.decode_function_input(data)
    inputs = fn.abi["inputs"]
    types = ",".join(i["type"] if not i["type"].startswith("tuple") else i["internalType"].split()[-1].split(".")[-1] for i in inputs)
    lines = [f"call {fn.abi['name']}({types}) on {target}"]
    for item in inputs:
        value = args[item["name"]]
        if item.get("internalType", "").endswith("Terms"):
            terms = Terms.from_abi(value)
            lines.append(f"  {item['name']} = terms with hash 0x{terms.terms_hash().hex()}:")
            lines.extend(f"      {line}" for line in _terms_lines(terms))
        elif item["type"] == "bytes32" and item["name"] in ("role", "neededRole"):
            lines.append(f"  {item['name']} = {role_name(value)} (0x{bytes(value).hex()})")
        else:
            lines.append(f"  {item['name']} = {_show_value(value)}")
    lines.append(f"  calldata {(len(data) - 2) // 2 if isinstance(data, str) else len(data):,} bytes, selector {str(data)[:10]}")
    return lines


def _terms_lines(terms: Terms) -> list[str]:
    doc = terms_document(terms)
    lines = []
    for key, value in doc.items():
        if key == "meters":
            for i, meter in enumerate(value):
                lines.append(f"meters[{i}]: {json.dumps(meter)}")
        else:
            lines.append(f"{key}: {json.dumps(value) if isinstance(value, dict) else value}")
    return lines


def _event(contract: Contract, receipt: TxReceipt | None, name: str) -> Any:
    assert receipt is not None, "only sent transactions have events"
    events = contract.events[name]().process_receipt(receipt, errors=_discard())
    if not events:
        raise ConfigError(f"the transaction did not emit {name}: is this the right contract?")
    return events[0]["args"]


def _discard() -> Any:
    from web3.logs import DISCARD

    return DISCARD


# -- factory ------------------------------------------------------------------------------------------------------------


def deploy_factory(
    session: Session, *, admin: str | None = None, operators: Sequence[str] | None = None, with_test_token: bool = False
) -> Outcome:
    """Deploy AgreementFactory (admin: the sender unless given), grant OPERATOR_ROLE (default: the sender), and on a
    dev chain optionally deploy TestToken (EURT, 2 decimals) and allow-list it; record everything."""
    sender = session.sender
    admin = _address(admin, "--admin") if admin else sender.address
    operators = [_address(o, "--operator") for o in operators] if operators else [sender.address]
    if with_test_token and not session.chain.is_dev:
        raise ConfigError(
            f"--with-test-token: chain id {session.chain.chain_id} is not a development chain (TestToken can be minted at will)"
        )
    outcome, address = session.deploy_contract("AgreementFactory", admin, action="deploy AgreementFactory")
    if session.dry_run:
        if operators:
            session.say(
                f"  then: grant operator to {', '.join(operators)}" + ("; deploy and allow-list TestToken EURT" if with_test_token else "")
            )
        return outcome
    assert address is not None
    factory = session.chain.contract("IAgreementFactory", address)
    implementation = session.chain.call(factory.functions.implementation())
    session.deployments.record_factory(
        address=address,
        implementation=implementation,
        admin=admin,
        deployer=sender.address,
        tx=outcome.tx_hash,
        block=outcome.block,
        network=session.network.name,
    )
    session.say(f"AgreementFactory at {address} (implementation {implementation}); recorded in {session.deployments.path}")
    outcome.result.update(factory=address, implementation=implementation)
    if admin == sender.address:
        for operator in operators:
            grant_role(session, "operator", operator, factory=address)
    elif operators:
        session.say(f"  the admin {admin} grants roles: settle agreement grant-role operator ADDRESS")
    if with_test_token:
        token_outcome, token = session.deploy_contract("TestToken", "Euro Test Token", "EURT", 2, action="deploy TestToken")
        assert token is not None
        session.deployments.record_token(
            "EURT", address=token, decimals=2, currency="EUR", name="Euro Test Token", tx=token_outcome.tx_hash
        )
        if admin == sender.address:
            allow_token(session, token, factory=address)
        outcome.result["token"] = token
        session.say(f"TestToken EURT at {token}; recorded in {session.deployments.path}")
    return outcome


def allow_token(session: Session, token: str, *, allowed: bool = True, factory: str | None = None) -> Outcome:
    """Add (or remove) an ERC-20 on the factory's allow-list. Admin only."""
    contract = session.factory(factory)
    address = resolve_token(session.chain, session.deployments, token).address
    verb = "allow" if allowed else "disallow"
    return session.execute(contract, contract.functions.setTokenAllowed(address, allowed), f"{verb} token {address}")


def _address(value: str, what: str) -> str:
    if not is_address(value):
        raise ValidationError(f"{what}: {value!r} is not an address (0x and 40 hex digits)")
    return to_checksum_address(value)


def _role(name: str) -> bytes:
    key = name.strip().lower().removesuffix("_role")
    if key == "default_admin":
        key = "admin"
    if key not in ROLES:
        raise ValidationError(f"role {name!r} is unknown: choose one of {', '.join(ROLES)}")
    return ROLES[key]


def grant_role(session: Session, role: str, account: str, *, factory: str | None = None) -> Outcome:
    """Grant ``role`` (admin, operator, oracle, gateway) on the factory to ``account``. Admin only."""
    return _change_role(session, role, account, grant=True, factory=factory)


def revoke_role(session: Session, role: str, account: str, *, factory: str | None = None) -> Outcome:
    """Revoke ``role`` from ``account``. Admin only."""
    return _change_role(session, role, account, grant=False, factory=factory)


def _change_role(session: Session, role: str, account: str, *, grant: bool, factory: str | None) -> Outcome:
    role_hash = _role(role)
    account = _address(account, "account")
    contract = session.factory(factory)
    name = role_name(role_hash)
    holds = bool(session.chain.call(contract.functions.hasRole(role_hash, account)))
    if holds == grant:
        session.say(f"{account} {'already holds' if grant else 'does not hold'} the {name} role: nothing to do")
        return Outcome(f"{'grant' if grant else 'revoke'} {name}", 0, session.dry_run, result={"changed": False})
    fn = contract.functions.grantRole(role_hash, account) if grant else contract.functions.revokeRole(role_hash, account)
    outcome = session.execute(contract, fn, f"{'grant' if grant else 'revoke'} {name} {'to' if grant else 'from'} {account}")
    outcome.result["changed"] = not outcome.dry_run
    if grant and name == "oracle" and not outcome.dry_run:
        active = int(session.chain.call(contract.functions.oracleActiveFrom(account)))
        session.say(f"  {account} may report usage from {format_timestamp(active)}")
    return outcome


# -- agreements ---------------------------------------------------------------------------------------------------------


def create_agreement(session: Session, spec: AgreementSpec, *, factory: str | None = None, spec_path: str | None = None) -> Outcome:
    """Deploy the agreement ``spec`` describes (state Proposed); both parties then accept. Operator only."""
    terms = spec.to_terms(session.token_resolver())
    contract = session.factory(factory)
    payer, payee = spec.parties.payer.address, spec.parties.payee.address
    salt = spec.salt()
    label = spec.name or spec.reference or "agreement"
    predict = contract.functions.predictAgreementAddress(payer, payee, terms.to_abi(), salt)
    predicted = to_checksum_address(_call(session, predict, f"create {label}"))
    if session.chain.w3.eth.get_code(predicted) not in (b"", b"\x00"):
        raise ConfigError(
            f"an agreement with these parties, terms and reference already exists at {predicted}: "
            "change `reference` in the spec to create another"
        )
    outcome = session.execute(
        contract,
        contract.functions.createAgreement(payer, payee, terms.to_abi(), salt),
        f"create {label}",
        label=f"AgreementFactory {contract.address}",
    )
    outcome.result.update(agreement=predicted, terms_hash="0x" + terms.terms_hash().hex())
    session.say(f"  agreement {'would be' if outcome.dry_run else 'is'} at {predicted}; terms hash 0x{terms.terms_hash().hex()}")
    if outcome.dry_run:
        return outcome
    created = _event(contract, outcome.receipt, "AgreementCreated")
    address = to_checksum_address(created["agreement"])
    session.deployments.record_agreement(
        address,
        name=spec.name,
        reference=spec.reference,
        factory=contract.address,
        payer={"address": payer, "name": spec.parties.payer.name},
        payee={"address": payee, "name": spec.parties.payee.name},
        meters=[{"name": m.name, "unit": m.unit, "unit_code": m.unit_code} for m in spec.meters],
        dunning=dunning.document() if (dunning := spec.dunning_policy()) is not None else None,
        terms_hash="0x" + bytes(created["termsHash"]).hex(),
        salt="0x" + salt.hex(),
        spec=spec_path,
        tx=outcome.tx_hash,
        block=outcome.block,
    )
    outcome.result["agreement"] = address
    session.say(f"created {address}: now both parties accept (settle agreement accept {address})")
    return outcome


def _call(session: Session, fn: ContractFunction, action: str) -> Any:
    try:
        return session.chain.call(fn, sender=session.signer.address if session.signer else None)
    except ContractRevert as exc:
        raise ContractRevert(explain(exc, action), error_name=exc.error_name, args=exc.error_args, data=exc.data) from None


@dataclass(frozen=True)
class Pending:
    """The terms version awaiting acceptance, as recorded on-chain."""

    version: int
    terms: Terms
    terms_hash: bytes
    payer: str
    payee: str
    accepted_by: tuple[str, ...]


def pending_terms(session: Session, contract: Contract) -> Pending:
    status = AgreementStatus.decode(session.chain.call(contract.functions.status()))
    state, version, pending_version = status.state, status.version, status.pending_version
    if pending_version == 0:
        raise ValidationError(
            f"nothing awaits acceptance on {contract.address}: it is {state.name.capitalize()} at terms version {version}"
            + (" (propose changes with 'settle agreement amend')" if state in (AgreementState.ACTIVE, AgreementState.PAUSED) else "")
        )
    from settle.status import read_version

    found, warning = read_version(session.chain, contract, pending_version)
    if warning:
        session.say(f"warning: {warning}")
    payer, payee = session.chain.call(contract.functions.parties())
    accepted = tuple(p for p in (payer, payee) if session.chain.call(contract.functions.hasAccepted(p, pending_version)))
    return Pending(pending_version, found.terms, found.terms_hash, payer, payee, accepted)


def _check_expected(pending: Pending, spec: AgreementSpec | None, session: Session, terms_hash: str | None) -> None:
    """Refuse to accept anything but the terms the party reviewed (its own spec file or a hash it was given)."""
    if terms_hash is not None:
        given = bytes.fromhex(terms_hash.removeprefix("0x"))
        if given != pending.terms_hash:
            raise ValidationError(
                f"--terms-hash {terms_hash} is not the pending version {pending.version}'s 0x{pending.terms_hash.hex()}: not accepting"
            )
    if spec is not None:
        mine = spec.to_terms(session.token_resolver())
        if mine.terms_hash() != pending.terms_hash:
            differ = [k for k, v in terms_document(mine).items() if terms_document(pending.terms).get(k) != v]
            fields = ", ".join(differ) or "the packed terms"
            raise ValidationError(
                f"the pending version {pending.version} differs from {spec.source or 'the spec'} in {fields} "
                f"(on-chain hash 0x{pending.terms_hash.hex()}, spec 0x{mine.terms_hash().hex()}): not accepting"
            )


def _show_pending(session: Session, pending: Pending) -> None:
    session.say(f"terms version {pending.version} (hash 0x{pending.terms_hash.hex()}) awaiting acceptance:")
    for line in _terms_lines(pending.terms):
        session.say(f"    {line}")
    if pending.accepted_by:
        session.say(f"  already accepted by {', '.join(pending.accepted_by)}")


def accept(session: Session, agreement: str, *, spec: AgreementSpec | None = None, terms_hash: str | None = None) -> Outcome:
    """Accept the pending terms version with the sender's key (the sender must be the payer or the payee)."""
    contract = session.agreement(agreement)
    pending = pending_terms(session, contract)
    _check_expected(pending, spec, session, terms_hash)
    _show_pending(session, pending)
    outcome = session.execute(contract, contract.functions.accept(pending.version, pending.terms_hash), f"accept version {pending.version}")
    outcome.result.update(version=pending.version, terms_hash="0x" + pending.terms_hash.hex())
    if not outcome.dry_run:
        _report_acceptance(session, contract, outcome)
    return outcome


def _report_acceptance(session: Session, contract: Contract, outcome: Outcome) -> None:
    receipt = outcome.receipt
    assert receipt is not None
    if contract.events.AgreementActivated().process_receipt(receipt, errors=_discard()):
        session.say("both parties accepted: the agreement is Active")
        outcome.result["state"] = "Active"
    elif amended := contract.events.TermsAmended().process_receipt(receipt, errors=_discard()):
        args = amended[0]["args"]
        session.say(f"both parties accepted: version {args['version']} prices periods from {args['effectiveFromPeriod']} on")
        outcome.result["effective_from_period"] = int(args["effectiveFromPeriod"])
    else:
        session.say("accepted: waiting for the other party")


def sign_acceptance(
    session: Session, agreement: str, output: str | Path, *, deadline: int, spec: AgreementSpec | None = None, terms_hash: str | None = None
) -> dict[str, Any]:
    """Sign the pending version's EIP-712 acceptance with the sender's key and write it to ``output``.

    Nothing is sent: the other side (or anyone) submits it with :func:`submit_signature`.
    """
    contract = session.agreement(agreement)
    pending = pending_terms(session, contract)
    _check_expected(pending, spec, session, terms_hash)
    party = session.sender.address
    if party not in (pending.payer, pending.payee):
        raise ValidationError(f"{party} is neither the payer ({pending.payer}) nor the payee ({pending.payee}) of {contract.address}")
    _show_pending(session, pending)
    domain = {"name": EIP712_NAME, "version": EIP712_VERSION, "chainId": session.chain.chain_id, "verifyingContract": contract.address}
    role = 1 if party == pending.payer else 2
    message = {"party": party, "role": role, "version": pending.version, "termsHash": pending.terms_hash, "deadline": deadline}
    signable = encode_typed_data(domain_data=domain, message_types=ACCEPT_TYPES, message_data=message)
    digest = session.chain.call(contract.functions.acceptDigest(party, pending.version, pending.terms_hash, deadline))
    signed = Account.sign_message(signable, session.sender.key)
    if bytes(signed.message_hash) != bytes(digest):
        raise ConfigError("the agreement's acceptDigest differs from the EIP-712 digest computed here: not signing")
    document = {
        "kind": SIGNATURE_FILE_KIND,
        "chain_id": session.chain.chain_id,
        "agreement": contract.address,
        "party": party,
        "version": pending.version,
        "terms_hash": "0x" + pending.terms_hash.hex(),
        "deadline": deadline,
        "deadline_utc": format_timestamp(deadline),
        "signature": "0x" + bytes(signed.signature).hex(),
    }
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    session.say(f"signed acceptance of version {pending.version} by {party}, valid until {format_timestamp(deadline)}, written to {path}")
    session.say(f"  the other side submits it: settle agreement accept {contract.address} --signature-file {path}")
    return document


def read_signature_file(path: str | Path) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"signature file {path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationError(f"signature file {path}: not JSON") from None
    if isinstance(document, dict) and document.get("kind") == "settle.accept-signature/v1":
        raise ValidationError(
            f"signature file {path} is in the old format (v1, the signed data did not name the party): "
            f"ask {document.get('party', 'the party')} to sign again with 'settle agreement accept … --sign-to FILE'"
        )
    if not isinstance(document, dict) or document.get("kind") != SIGNATURE_FILE_KIND:
        raise ValidationError(f"signature file {path}: not a Settle acceptance signature (kind {SIGNATURE_FILE_KIND})")
    for key in ("chain_id", "agreement", "party", "version", "terms_hash", "deadline", "signature"):
        if key not in document:
            raise ValidationError(f"signature file {path}: '{key}' is missing")
    return document


def submit_signature(session: Session, path: str | Path, *, agreement: str | None = None) -> Outcome:
    """Submit a party's signed acceptance (from :func:`sign_acceptance`); anyone may send it."""
    document = read_signature_file(path)
    if int(document["chain_id"]) != session.chain.chain_id:
        raise ValidationError(f"signature file {path} is for chain {document['chain_id']}, this network is chain {session.chain.chain_id}")
    if agreement is not None and resolve_agreement(session.deployments, agreement) != to_checksum_address(document["agreement"]):
        raise ValidationError(f"signature file {path} is for agreement {document['agreement']}, not {agreement}")
    contract = session.agreement(document["agreement"])
    deadline = int(document["deadline"])
    now = int(session.chain.w3.eth.get_block("latest")["timestamp"])
    if deadline < now:
        raise ValidationError(f"signature file {path} expired at {format_timestamp(deadline)}: ask {document['party']} to sign again")
    version, terms_hash = int(document["version"]), bytes.fromhex(str(document["terms_hash"]).removeprefix("0x"))
    fn = contract.functions.acceptWithSignature(
        to_checksum_address(document["party"]), version, terms_hash, deadline, bytes.fromhex(str(document["signature"]).removeprefix("0x"))
    )
    outcome = session.execute(contract, fn, f"accept version {version} for {document['party']}")
    outcome.result.update(version=version, terms_hash=document["terms_hash"], party=document["party"])
    if not outcome.dry_run:
        _report_acceptance(session, contract, outcome)
    return outcome


def amend(session: Session, agreement: str, spec: AgreementSpec) -> Outcome:
    """Propose the terms of ``spec`` as the next version (payer, payee or operator); both parties then accept."""
    contract = session.agreement(agreement)
    payer, payee = session.chain.call(contract.functions.parties())
    if (spec.parties.payer.address, spec.parties.payee.address) != (payer, payee):
        raise ValidationError(
            f"{spec.source or 'the spec'}: parties are {spec.parties.payer.address} → {spec.parties.payee.address}, "
            f"but agreement {contract.address} is between {payer} → {payee} (parties never change)"
        )
    terms = spec.to_terms(session.token_resolver())
    version = AgreementStatus.decode(session.chain.call(contract.functions.status())).version
    if version:
        _, in_force, _ = session.chain.call(contract.functions.termsAt(version))
        if bytes(in_force) == terms.terms_hash():
            raise ValidationError(f"{spec.source or 'the spec'} has the same terms as version {version} in force: nothing to amend")
    outcome = session.execute(contract, contract.functions.proposeAmendment(terms.to_abi()), "propose amendment")
    outcome.result["terms_hash"] = "0x" + terms.terms_hash().hex()
    if outcome.dry_run:
        return outcome
    proposed = _event(contract, outcome.receipt, "AmendmentProposed")
    new_version = int(proposed["version"])
    outcome.result["version"] = new_version
    sender = session.sender.address
    waiting = [p for p in (payer, payee) if p != sender]
    session.say(f"proposed version {new_version}; it takes effect from the next period once {' and '.join(waiting)} accepted")
    session.say(f"  settle agreement accept {contract.address}")
    return outcome


def reject_amendment(session: Session, agreement: str) -> Outcome:
    """Drop the pending amendment (payer, payee or operator)."""
    contract = session.agreement(agreement)
    return session.execute(contract, contract.functions.rejectAmendment(), "reject amendment")


def pause(session: Session, agreement: str) -> Outcome:
    """Stop usage reports and settlement until resumed (payee or operator; Active only)."""
    contract = session.agreement(agreement)
    return session.execute(contract, contract.functions.pause(), "pause")


def resume(session: Session, agreement: str) -> Outcome:
    """End a pause (payee or operator)."""
    contract = session.agreement(agreement)
    return session.execute(contract, contract.functions.resume(), "resume")


def terminate(
    session: Session, agreement: str, *, notice: bool = False, consent_end_period: int | None = None, cancel: bool = False
) -> Outcome:
    """Give notice, consent to an end before a period (both parties must), or cancel a Proposed agreement."""
    chosen = [name for name, on in (("--notice", notice), ("--consent", consent_end_period is not None), ("--cancel", cancel)) if on]
    if len(chosen) != 1:
        raise ValidationError(
            "choose exactly one of --notice, --consent END_PERIOD, --cancel" + (f" (got {', '.join(chosen)})" if chosen else "")
        )
    contract = session.agreement(agreement)
    if notice:
        from settle.status import read_version

        period = AgreementStatus.decode(session.chain.call(contract.functions.status())).current_period
        in_force, _ = read_version(session.chain, contract, int(session.chain.call(contract.functions.versionForPeriod(period))) or 1)
        session.say(f"notice period: {format_duration(in_force.terms.notice_seconds)}")
        # The contract's rule (giveNotice): the agreement ends with the period in which the notice expires.
        now = int(session.chain.w3.eth.get_block("latest")["timestamp"])
        expires = now + in_force.terms.notice_seconds
        last = in_force.terms.schedule.period_at(expires)
        ends_at = in_force.terms.schedule.end_of(last)
        session.say(
            f"given now, the notice expires {format_timestamp(expires)}: the agreement would end after period {last}, "
            f"at {format_timestamp(ends_at)}"
        )
        outcome = session.execute(contract, contract.functions.giveNotice(), "give notice")
        outcome.result.setdefault("last_period", last)
    elif cancel:
        outcome = session.execute(contract, contract.functions.cancel(), "cancel")
    else:
        assert consent_end_period is not None
        start, _ = session.chain.call(contract.functions.periodBounds(consent_end_period))
        session.say(f"consent to end before period {consent_end_period} (the agreement would end at {format_timestamp(int(start))})")
        outcome = session.execute(
            contract, contract.functions.terminateByConsent(consent_end_period), f"consent to end before period {consent_end_period}"
        )
    if outcome.dry_run:
        return outcome
    receipt = outcome.receipt
    assert receipt is not None
    scheduled = contract.events.TerminationScheduled().process_receipt(receipt, errors=_discard())
    if scheduled:
        end_period = int(scheduled[0]["args"]["endPeriod"])
        outcome.result["end_period"] = end_period
        if cancel:
            session.say("cancelled: the agreement is Terminated")
        else:
            start, _ = session.chain.call(contract.functions.periodBounds(end_period))
            session.say(f"the agreement ends after period {end_period - 1}, at {format_timestamp(int(start))}")
    else:
        session.say("consent recorded: waiting for the other party to consent to the same end period")
    return outcome


def deadline_from(session: Session, text: str | None) -> int:
    """``--valid-for``: a duration from the chain's time ("7d", the default) or an ISO date/datetime."""
    from settle.spec import parse_duration, parse_timestamp

    now = int(session.chain.w3.eth.get_block("latest")["timestamp"])
    if not text:
        return now + 7 * 86_400
    try:
        return now + parse_duration(text)
    except ValueError:
        pass
    try:
        return parse_timestamp(text)
    except ValueError:
        raise ValidationError(f"--valid-for {text!r}: give a duration from now (e.g. '7d') or an ISO date") from None


# -- disputes -----------------------------------------------------------------------------------------------------------

UINT96_MAX = 2**96 - 1
#: What each action allows, said when the contract refuses the settlement's status.
_STATUS_HINTS = {
    "dispute": "a due, partly paid, paid or returned settlement can be disputed, once at a time",
    "resolve": "only a disputed settlement is resolved",
    "decide": "only a disputed settlement is decided",
    "write_off": "only what is still open can be written off (a due, partly paid, returned or disputed settlement)",
}


@dataclass(frozen=True)
class DisputeContext:
    """A settled period of an agreement, as a dispute action needs it."""

    contract: Contract
    period: int
    payer: str
    payee: str
    settlement: SettlementView
    terms: Terms

    def money(self, minor: int) -> str:
        return format_minor(int(minor), self.terms.minor_digits, self.terms.currency)

    def plain(self, minor: int) -> str:
        """An amount as ``--amount`` takes it (``'7.00'``)."""
        return format_minor(int(minor), self.terms.minor_digits)

    def role_of(self, address: str) -> str:
        address = to_checksum_address(address)
        return "the payer" if address == self.payer else "the payee" if address == self.payee else "not a party of this agreement"

    def other_party(self, address: str) -> str:
        return self.payee if to_checksum_address(address) == self.payer else self.payer

    @property
    def arbiter(self) -> str:
        """Who decides an unresolved dispute, in words."""
        return "an operator of the factory" if self.terms.arbiter_is_operator else f"the arbiter {self.terms.arbiter}"


def dispute_context(session: Session, agreement: str, period: int) -> DisputeContext:
    """The agreement, its parties, the settlement of ``period`` and the terms it was computed with."""
    if not isinstance(period, int) or not 0 <= period < 2**32:
        raise ValidationError(f"period: {period!r} is not a period number (0 to 4294967295)")
    return read_dispute_context(session.chain, session.agreement(agreement), period, say=session.say)


def read_dispute_context(chain: Chain, contract: Contract, period: int, *, say: Callable[[str], None] | None = None) -> DisputeContext:
    """:func:`dispute_context` for an agreement contract at hand (the gateway's API uses it too)."""
    settlement = SettlementView.decode(chain.call(contract.functions.settlement(period)))
    if not settlement.settled:
        raise ValidationError(
            f"period {period} of {contract.address} is not settled yet: disputes, resolutions and write-offs are about settled periods"
        )
    from settle.status import read_version

    found, warning = read_version(chain, contract, settlement.terms_version)
    if warning and say is not None:
        say(f"warning: {warning}")
    payer, payee = (to_checksum_address(a) for a in chain.call(contract.functions.parties()))
    return DisputeContext(contract, period, payer, payee, settlement, found.terms)


def _dispute_amount(context: DisputeContext, value: str, field: str) -> int:
    """``--amount`` in currency units, exactly: refused (never rounded) with more decimals than the currency has."""
    return parse_minor(value, context.terms.minor_digits, field=field, maximum=UINT96_MAX)


def explain_refusal(
    exc: ContractRevert, context: DisputeContext, kind: str, action: str, chain: Chain, *, field: str = "--amount"
) -> ContractRevert:
    """The contract's refusal of a dispute action in the party's terms: amounts in currency, times in UTC, what to do
    (``field`` names the amount as the caller gave it)."""
    name, money, period = exc.error_name or "", context.money, context.period
    args: tuple[Any, ...] = tuple(to_checksum_address(a) if isinstance(a, str) and is_address(a) else a for a in exc.error_args)
    sentence: str | None = None
    if name == "BillingAgreement_NotPayer":
        sentence = f"only the payer {context.payer} may dispute a settlement; {args[0]} is {context.role_of(args[0])}"
    elif name == "BillingAgreement_NotParty":
        sentence = f"{args[0]} is neither the payer {context.payer} nor the payee {context.payee}; only the parties consent"
    elif name == "BillingAgreement_InvalidDisputedAmount":
        sentence = f"{field} {money(args[1])}: a dispute names at least {money(1)} and at most the billed {money(args[2])}"
    elif name == "BillingAgreement_DisputeWindowClosed":
        sentence = f"the dispute window of period {period} closed at {format_timestamp(int(args[1]))}"
    elif name == "BillingAgreement_DisputeWindowOpen":
        left = int(args[1]) - int(chain.w3.eth.get_block("latest")["timestamp"])
        sentence = (
            f"the dispute window of period {period} is open until {format_timestamp(int(args[1]))} "
            f"(another {format_duration(max(left, 0))}): until then only both parties' consent ends the dispute "
            "(settle agreement resolve); a decision comes after"
        )
    elif name == "BillingAgreement_InvalidAgreedAmount":
        sentence = (
            f"{field} {money(args[1])}: the agreed amount lies between what is paid ({money(args[3])}) and the billed {money(args[2])}"
        )
    elif name == "BillingAgreement_DecisionOutOfRange":
        sentence = (
            f"{field} {money(args[1])}: a decision lies between {money(args[2])} (the undisputed part, and at least what is "
            f"paid) and the billed {money(args[3])}"
        )
    elif name == "BillingAgreement_NotArbiter":
        if context.terms.arbiter_is_operator:
            sentence = f"{args[0]} holds no operator role: the terms of period {period} name no arbiter, so an operator decides"
        else:
            sentence = f"{args[0]} is not the arbiter: the terms of period {period} name {context.terms.arbiter}"
    elif name == "BillingAgreement_InvalidPaymentStatus":
        shown = PaymentStatus(int(args[1])).label.replace("_", " ")
        sentence = f"period {period} is {shown}: {_STATUS_HINTS[kind]}"
    elif name == "BillingAgreement_AlreadyConsented":
        sentence = f"{args[0]} consented to this already; it takes effect once {context.other_party(args[0])} consents to the same"
    if sentence is None:
        return exc
    return ContractRevert(f"{action} refused: {sentence} [{name}]", error_name=exc.error_name, args=exc.error_args, data=exc.data)


class _DisputeAction:
    """One dispute action: record it locally, send it (refusals explained), register its text with the gateway."""

    def __init__(self, session: Session, context: DisputeContext, kind: str, label: str, amount: int | None, text: str | None):
        from settle.disputes import note_hash

        self.session, self.context, self.kind, self.label = session, context, kind, label
        self.amount, self.text = amount, text
        self.note = note_hash(text) if text is not None else None
        self.record: Path | None = None
        self.document: dict[str, Any] = {}

    def send(self, fn: ContractFunction) -> Outcome:
        from settle.disputes import RECORD_KIND, now_utc, write_record

        session, context = self.session, self.context
        if not session.dry_run:
            self.document = {
                "kind": RECORD_KIND,
                "chain_id": session.chain.chain_id,
                "network": session.network.name,
                "agreement": context.contract.address,
                "period": context.period,
                "action": self.kind,
                "party": session.sender.address,
                "amount": None
                if self.amount is None
                else {"minor_units": self.amount, "value": context.plain(self.amount), "currency": context.terms.currency},
                "text": self.text,
                "text_hash": None if self.note is None else "0x" + self.note.hex(),
                "written_at": now_utc(),
                "state": "sending",
                "tx_hash": None,
                "block": None,
            }
            self.record = write_record(self.document, deployments=session.deployments.path.parent)
        note = self.note if self.kind != "dispute" else None  # a dispute's hash is its reasonHash argument
        try:
            outcome = session.execute(context.contract, fn, self.label, note=note)
        except ContractRevert as exc:
            if self.record is not None:
                self.record.unlink(missing_ok=True)  # refused before anything happened on-chain
                self.record = None
            raise explain_refusal(exc, context, self.kind, self.label, session.chain) from None
        except ChainError as exc:
            if self.record is not None:
                self.document.update(state=f"unknown: {exc}")
                write_record(self.document, self.record)
            raise
        outcome.result.update(period=context.period, action=self.kind)
        if self.amount is not None:
            outcome.result.update(amount=self.amount, amount_text=context.money(self.amount))
        if self.note is not None:
            outcome.result["text_hash"] = "0x" + self.note.hex()
        if not outcome.dry_run and self.record is not None:
            self.document.update(state="sent", tx_hash=outcome.tx_hash, block=outcome.block, sent_at=now_utc())
            write_record(self.document, self.record)
            outcome.result["record"] = str(self.record)
        return outcome

    def finish(self, outcome: Outcome, result: str) -> None:
        """Note what the action came to in the record, and hand its text to the gateway."""
        from settle.disputes import register_note, write_record

        if outcome.dry_run or self.record is None:
            return
        self.document["result"] = result
        if self.text is not None:
            registration = register_note(self.document, self.session.chain)
            self.document["gateway"] = registration
            outcome.result["gateway"] = registration
            say_registration(self.session.say, registration, self.record)
        write_record(self.document, self.record)


def say_registration(say: Callable[[str], None], registration: dict[str, Any], record: Path) -> None:
    if registration["registered"]:
        say(f"  text registered with the gateway ({registration['detail']}); also kept in {record}")
    else:
        say(f"  the gateway has not got the text: {registration['detail']}")
        say(f"  it is kept in {record}; send it later with: settle agreement register-note {record}")


def dispute(session: Session, agreement: str, period: int, *, amount: str, reason: str) -> Outcome:
    """Dispute ``amount`` (currency units, e.g. ``'40.00'``) of the settlement of ``period``, with the reason ``reason``.

    Payer only, within the dispute window. The reason stays off-chain: keccak256 of its UTF-8 bytes goes on-chain as
    ``reasonHash`` (:mod:`settle.disputes`). The rest of the settlement stays collectable.
    """
    from settle.disputes import check_note

    text = check_note(reason, "--reason")
    context = dispute_context(session, agreement, period)
    minor = _dispute_amount(context, amount, "--amount")
    billed = context.settlement.amount
    session.say(f"period {period}: billed {context.money(billed)}, paid {context.money(context.settlement.paid)}")
    action = _DisputeAction(session, context, "dispute", f"dispute period {period}", minor, text)
    assert action.note is not None
    outcome = action.send(context.contract.functions.dispute(period, minor, action.note))
    if outcome.dry_run:
        return outcome
    disputed = _event(context.contract, outcome.receipt, "SettlementDisputed")
    closes = context.settlement.settled_at + context.terms.dispute_window_seconds
    rest = max(billed - int(disputed["amount"]), 0)
    session.say(
        f"disputed {context.money(disputed['amount'])} of the {context.money(billed)} billed for period {period} "
        f"(reason hash 0x{bytes(disputed['reasonHash']).hex()}); the other {context.money(rest)} are undisputed and stay payable"
    )
    session.say(f"  both parties can agree on an amount until the dispute window closes at {format_timestamp(closes)}:")
    session.say(f"    settle agreement resolve {context.contract.address} {period} --amount AMOUNT   (payer and payee, same amount)")
    session.say(f"  after that {context.arbiter} may decide between {context.money(rest)} and {context.money(billed)}")
    outcome.result.update(status=PaymentStatus.DISPUTED.label, window_closes_at=closes)
    action.finish(outcome, "disputed")
    return outcome


def resolve_dispute(session: Session, agreement: str, period: int, *, amount: str, note: str | None = None) -> Outcome:
    """Consent to end the dispute on ``period`` with the settlement at ``amount`` (payer or payee); it takes effect
    when the other party consents to the same amount while the settlement is unchanged."""
    from settle.disputes import check_note

    text = check_note(note, "--note") if note is not None else None
    context = dispute_context(session, agreement, period)
    minor = _dispute_amount(context, amount, "--amount")
    s = context.settlement
    session.say(f"period {period}: billed {context.money(s.amount)}, paid {context.money(s.paid)}, disputed {context.money(s.disputed)}")
    action = _DisputeAction(session, context, "resolve", f"resolve period {period} at {context.money(minor)}", minor, text)
    outcome = action.send(context.contract.functions.resolveDispute(period, minor))
    if outcome.dry_run:
        return outcome
    receipt = outcome.receipt
    assert receipt is not None
    resolved = context.contract.events.DisputeResolved().process_receipt(receipt, errors=_discard())
    if resolved:
        args = resolved[0]["args"]
        status = PaymentStatus(int(args["status"]))
        session.say(
            f"both parties agreed: period {period} is now {context.money(args['agreedAmount'])} "
            f"(was {context.money(args['previousAmount'])}), {status.label.replace('_', ' ')}"
        )
        outcome.result.update(resolved=True, status=status.label, waiting_for=None)
        action.finish(outcome, "resolved")
    else:
        other = context.other_party(session.sender.address)
        session.say(f"consent recorded: waiting for the other party ({other}) to consent to the same amount:")
        session.say(f"    settle agreement resolve {context.contract.address} {period} --amount {context.plain(minor)}")
        session.say("  (a payment or return recorded in between makes this consent lapse: both consent again)")
        outcome.result.update(resolved=False, status=PaymentStatus.DISPUTED.label, waiting_for=other)
        action.finish(outcome, f"waiting for {other}")
    return outcome


def decide_dispute(session: Session, agreement: str, period: int, *, amount: str, note: str | None = None) -> Outcome:
    """As the arbiter the terms name (or an operator, where they name none), end the dispute on ``period`` with the
    settlement at ``amount``: only after the dispute window, between the undisputed part and the billed amount."""
    from settle.disputes import check_note

    text = check_note(note, "--note") if note is not None else None
    context = dispute_context(session, agreement, period)
    minor = _dispute_amount(context, amount, "--amount")
    s = context.settlement
    session.say(
        f"period {period}: billed {context.money(s.amount)}, paid {context.money(s.paid)}, disputed {context.money(s.disputed)}; "
        f"{context.arbiter} decides"
    )
    action = _DisputeAction(session, context, "decide", f"decide period {period} at {context.money(minor)}", minor, text)
    outcome = action.send(context.contract.functions.decideDispute(period, minor))
    if outcome.dry_run:
        return outcome
    args = _event(context.contract, outcome.receipt, "DisputeResolved")
    status = PaymentStatus(int(args["status"]))
    session.say(
        f"decided: period {period} is now {context.money(args['agreedAmount'])} (was {context.money(args['previousAmount'])}), "
        f"{status.label.replace('_', ' ')}"
    )
    outcome.result.update(resolved=True, status=status.label)
    action.finish(outcome, "decided")
    return outcome


def write_off(session: Session, agreement: str, period: int, *, note: str | None = None) -> Outcome:
    """Consent to write off what is open on ``period`` (payer or payee); it takes effect when the other party
    consents too while the settlement is unchanged."""
    from settle.disputes import check_note

    text = check_note(note, "--note") if note is not None else None
    context = dispute_context(session, agreement, period)
    s = context.settlement
    open_amount = s.amount - s.paid
    session.say(f"period {period}: billed {context.money(s.amount)}, paid {context.money(s.paid)}; open {context.money(open_amount)}")
    action = _DisputeAction(session, context, "write_off", f"write off period {period}", None, text)
    outcome = action.send(context.contract.functions.writeOff(period))
    if outcome.dry_run:
        return outcome
    receipt = outcome.receipt
    assert receipt is not None
    written = context.contract.events.SettlementWrittenOff().process_receipt(receipt, errors=_discard())
    if written:
        amount = int(written[0]["args"]["writtenOff"])
        session.say(f"both parties agreed: {context.money(amount)} of period {period} written off")
        outcome.result.update(written_off=amount, status=PaymentStatus.WRITTEN_OFF.label, waiting_for=None)
        action.finish(outcome, "written off")
    else:
        other = context.other_party(session.sender.address)
        session.say(f"consent recorded: waiting for the other party ({other}) to consent too:")
        session.say(f"    settle agreement write-off {context.contract.address} {period}")
        session.say("  (a payment or return recorded in between makes this consent lapse: both consent again)")
        outcome.result.update(written_off=None, status=s.status.label, waiting_for=other)
        action.finish(outcome, f"waiting for {other}")
    return outcome


def register_record(session: Session, path: str | Path) -> dict[str, Any]:
    """Hand the text of a recorded dispute action (``deployments/disputes/…``) to the gateway, e.g. after it was
    unreachable when the action was sent."""
    from settle.disputes import read_record, register_note, write_record

    document = read_record(path)
    if int(document["chain_id"]) != session.chain.chain_id:
        raise ValidationError(f"record {path} is for chain {document['chain_id']}, this network is chain {session.chain.chain_id}")
    if not document.get("text"):
        raise ValidationError(f"record {path} has no text: nothing to register")
    if not document.get("tx_hash"):
        raise ValidationError(f"record {path} was never sent (state {document.get('state')!r}): nothing on-chain carries its hash")
    registration = register_note(document, session.chain)
    document["gateway"] = registration
    write_record(document, Path(path))
    say_registration(session.say, registration, Path(path))
    return registration
