"""Create an agreement from a YAML spec (state Proposed); operator only.

    python scripts/create_agreement.py SPEC.yaml [--network NAME|URL] (--keystore FILE | --dev-account N) [--dry-run]

The same as ``settle agreement create …`` (``--help`` lists every option). Under ``brownie run`` the network
defaults to Brownie's and, on a development chain, the signer to dev account 0.
"""

from __future__ import annotations

import sys
from typing import Any

COMMAND = ["agreement", "create"]


def main(*argv: str) -> Any:
    from settle_cli.scripts import run_script

    return run_script(COMMAND, argv)


if __name__ == "__main__":
    main(*sys.argv[1:])
