"""Pause an active agreement (payee or operator).

    python scripts/pause_agreement.py AGREEMENT (--keystore FILE | --dev-account N) [--dry-run]

The same as ``settle agreement pause …`` (``--help`` lists every option). Under ``brownie run`` the network
defaults to Brownie's and, on a development chain, the signer to dev account 0.
"""

from __future__ import annotations

import sys
from typing import Any

COMMAND = ["agreement", "pause"]


def main(*argv: str) -> Any:
    from settle_cli.scripts import run_script

    return run_script(COMMAND, argv)


if __name__ == "__main__":
    main(*sys.argv[1:])
