"""Signing keys: an encrypted keystore file (eth-account), or anvil's public test accounts on dev chains.

A private key is never printed or logged; only addresses are shown.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from settle.chain import Chain
from settle.config import secret
from settle.errors import ConfigError

PASSWORD_ENV = "SETTLE_KEYSTORE_PASSWORD"


def load_keystore(path: str | Path, password: str | None = None, *, prompt: bool = True) -> LocalAccount:
    """Decrypt a keystore file; the password comes from the argument, ``SETTLE_KEYSTORE_PASSWORD`` or a prompt."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"keystore {path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(f"keystore {path}: not a JSON keystore file") from None
    if password is None:
        password = secret(PASSWORD_ENV)
    if password is None:
        if not prompt:
            raise ConfigError(f"keystore {path}: no password given (set {PASSWORD_ENV} or run interactively)")
        password = getpass.getpass(f"password for {path.name}: ")
    try:
        key = Account.decrypt(data, password)
    except ValueError:
        raise ConfigError(f"keystore {path}: wrong password or damaged file") from None
    return Account.from_key(key)


def create_keystore(path: str | Path, password: str, private_key: bytes | None = None) -> str:
    """Write a new encrypted keystore (a fresh random key unless one is given); returns the address."""
    account = Account.from_key(private_key) if private_key else Account.create()
    path = Path(path)
    if path.exists():
        raise ConfigError(f"keystore {path} already exists: refusing to overwrite a key")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(Account.encrypt(account.key, password), fh)
    return account.address


def resolve_account(
    chain: Chain, *, keystore: str | None = None, dev_account: int | None = None, password: str | None = None
) -> LocalAccount:
    """The signer chosen on the command line: ``--keystore FILE`` or ``--dev-account N`` (dev chains only)."""
    if keystore and dev_account is not None:
        raise ConfigError("choose either --keystore or --dev-account, not both")
    if keystore:
        account = load_keystore(keystore, password)
        chain.check_signer(account)
        return account
    if dev_account is None:
        raise ConfigError("no signer: pass --keystore FILE (or --dev-account N on a development chain)")
    if not 0 <= dev_account < 20:
        raise ConfigError(f"--dev-account {dev_account}: choose 0..19")
    return chain.dev_accounts(20)[dev_account]
