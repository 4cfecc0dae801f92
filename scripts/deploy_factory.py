"""Deploy AgreementFactory (and, on a dev chain, optionally TestToken EURT) and record it.

    python scripts/deploy_factory.py [--network NAME|URL] (--keystore FILE | --dev-account N) [--with-test-token] [--dry-run]
    brownie run scripts/deploy_factory.py main --network anvil

The same as ``settle agreement deploy-factory …`` (``--help`` lists every option). Under ``brownie run`` the network
defaults to Brownie's and, on a development chain, the signer to dev account 0.
"""

from __future__ import annotations

import sys
from typing import Any

COMMAND = ["agreement", "deploy-factory"]


def main(*argv: str) -> Any:
    from settle_cli.scripts import run_script

    return run_script(COMMAND, argv)


if __name__ == "__main__":
    main(*sys.argv[1:])
