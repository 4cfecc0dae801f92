"""Show an agreement's status from the chain alone (terms, versions, periods, usage, settlements).

    python scripts/agreement_status.py AGREEMENT [--network NAME|URL] [--period N] [--json]

The same as ``settle status …`` (``--help`` lists every option). Under ``brownie run`` the network
defaults to Brownie's and, on a development chain, the signer to dev account 0.
"""

from __future__ import annotations

import sys
from typing import Any

COMMAND = ["status"]


def main(*argv: str) -> Any:
    from settle_cli.scripts import run_script

    return run_script(COMMAND, argv)


if __name__ == "__main__":
    main(*sys.argv[1:])
