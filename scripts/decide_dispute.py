"""Decide a dispute after its window (the terms' arbiter, or an operator).

    python scripts/decide_dispute.py AGREEMENT PERIOD --amount AMOUNT [--note TEXT] (--keystore FILE | --dev-account N) [--dry-run]

The same as ``settle agreement decide …`` (``--help`` lists every option). Under ``brownie run`` the network
defaults to Brownie's and, on a development chain, the signer to dev account 0.
"""

from __future__ import annotations

import sys
from typing import Any

COMMAND = ["agreement", "decide"]


def main(*argv: str) -> Any:
    from settle_cli.scripts import run_script

    return run_script(COMMAND, argv)


if __name__ == "__main__":
    main(*sys.argv[1:])
