"""Contract reverts in words: the custom error's NatSpec ``@notice`` with its arguments filled in.

:class:`settle.chain.Chain` already decodes a revert into the error's name and arguments
(``BillingAgreement_NotPayeeOrOperator(caller=0x7099…)``). :func:`explain` turns that into one readable line for
operators and parties, using the sentence the contract authors wrote above the error in ``contracts/interfaces``:

    pause refused: 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 is neither the payee nor an operator
    [BillingAgreement_NotPayeeOrOperator]
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from eth_utils import keccak, to_checksum_address

from settle.config import get_settings
from settle.errors import ContractRevert

__all__ = ["ROLE_NAMES", "explain", "role_name"]

#: Role hashes of the factory's AccessControl, by the name the command line uses.
ROLE_NAMES: dict[bytes, str] = {
    b"\0" * 32: "admin",
    keccak(text="OPERATOR_ROLE"): "operator",
    keccak(text="ORACLE_ROLE"): "oracle",
    keccak(text="GATEWAY_ROLE"): "gateway",
}

# Errors from OpenZeppelin (not in contracts/), said in the same way.
_EXTRA_NOTICES = {
    "AccessControlUnauthorizedAccount": "`account` does not hold the `neededRole` role",
    "AccessControlBadConfirmation": "an account may only renounce a role for itself",
    "FailedDeployment": "the deployment failed: an agreement with these parties, terms and salt already exists (change `reference`)",
    "SafeERC20FailedOperation": "the token call on `token` failed",
    "ERC20InsufficientBalance": "`sender` holds `balance`, but `needed` is needed",
    "ERC20InsufficientAllowance": "`spender` may spend `allowance`, but `needed` is needed",
}

_NOTICE_ERROR = re.compile(r"((?:[ \t]*///[^\n]*\n)+)[ \t]*error\s+(\w+)\s*\(")
_ENUM = re.compile(r"enum\s+(\w+)\s*\{([^}]*)\}")


@lru_cache(maxsize=1)
def _notices() -> dict[str, str]:
    """``@notice`` text of every custom error declared under contracts/ (empty when the sources are absent)."""
    notices = dict(_EXTRA_NOTICES)
    root = get_settings().contracts_dir
    if not root.is_dir():
        return notices
    for path in sorted(root.rglob("*.sol")):
        text = path.read_text(errors="replace")
        for comment, name in _NOTICE_ERROR.findall(text):
            lines = [line.strip().removeprefix("///").strip() for line in comment.strip().splitlines()]
            body = " ".join(lines)
            match = re.search(r"@notice\s+(.*?)(?=\s@\w+|$)", body)
            if match:
                notices[name] = match.group(1).strip().rstrip(".")
    return notices


@lru_cache(maxsize=1)
def _enums() -> dict[str, tuple[str, ...]]:
    enums: dict[str, tuple[str, ...]] = {}
    root = get_settings().contracts_dir
    if root.is_dir():
        for path in sorted(root.rglob("*.sol")):
            for name, body in _ENUM.findall(path.read_text(errors="replace")):
                members = [re.sub(r"//.*", "", m).strip() for m in body.split(",")]
                enums[name] = tuple(m for m in members if m)
    return enums


@lru_cache(maxsize=1)
def _error_inputs() -> dict[str, list[dict[str, Any]]]:
    from settle.compiler import all_abis

    inputs: dict[str, list[dict[str, Any]]] = {}
    for abi in all_abis().values():
        for item in abi:
            if item.get("type") == "error":
                inputs.setdefault(item["name"], item.get("inputs", []))
    return inputs


def role_name(role: bytes) -> str:
    return ROLE_NAMES.get(bytes(role), "0x" + bytes(role).hex())


def _show(value: Any, abi_input: dict[str, Any] | None) -> str:
    internal = (abi_input or {}).get("internalType", "")
    if internal.startswith("enum "):
        members = _enums().get(internal.split()[-1].split(".")[-1], ())
        if isinstance(value, int) and 0 <= value < len(members):
            return re.sub(r"(?<!^)(?=[A-Z])", " ", members[value]).lower()  # PartiallyPaid → "partially paid"
    if (
        isinstance(value, bytes)
        and len(value) == 32
        and bytes(value) in ROLE_NAMES
        and (abi_input or {}).get("name") in ("neededRole", "role")
    ):
        return role_name(value)
    name = str((abi_input or {}).get("name", ""))
    if isinstance(value, int) and (name.endswith("At") or name == "deadline") and 0 < value < 2**40:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bytes) and (abi_input or {}).get("type") == "bytes3":
        return value.decode("latin-1")
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    return str(value)


def explain(revert: ContractRevert, action: str | None = None) -> str:
    """One readable line for a decoded revert: ``"<action> refused: <sentence> [<ErrorName>]"``."""
    name = revert.error_name
    prefix = f"{action} refused: " if action else ""
    notice = _notices().get(name or "")
    if not name or notice is None or name in ("Error", "Panic"):
        return f"{prefix}{revert}"
    try:
        inputs = _error_inputs().get(name, [])
    except Exception:  # noqa: BLE001 - without artifacts, fall back to the decoded form
        inputs = []
    values = {}
    for i, value in enumerate(revert.error_args):
        abi_input = inputs[i] if i < len(inputs) else None
        key = abi_input["name"] if abi_input and abi_input.get("name") else f"arg{i}"
        values[key] = _show(value, abi_input)

    used: set[str] = set()

    def fill(match: re.Match[str]) -> str:
        word = match.group(1)
        if word in values:
            used.add(word)
            return values[word]
        return word

    sentence = re.sub(r"`([^`]+)`", fill, notice)
    unused = [f"{k}={v}" for k, v in values.items() if k not in used]
    detail = f"{name}({', '.join(unused)})" if unused else name
    return f"{prefix}{sentence} [{detail}]"
