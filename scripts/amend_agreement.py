"""Propose new terms from a spec (payer, payee or operator); the other party accepts with accept_agreement.py.

    python scripts/amend_agreement.py AGREEMENT SPEC.yaml (--keystore FILE | --dev-account N) [--dry-run]

The same as ``settle agreement amend …`` (``--help`` lists every option). Under ``brownie run`` the network
defaults to Brownie's and, on a development chain, the signer to dev account 0.
"""

from __future__ import annotations

import sys
from typing import Any

COMMAND = ["agreement", "amend"]


def main(*argv: str) -> Any:
    from settle_cli.scripts import run_script

    return run_script(COMMAND, argv)


if __name__ == "__main__":
    main(*sys.argv[1:])
