"""Accept the pending terms as payer or payee: by transaction, or as an EIP-712 signature file the other side submits.

    python scripts/accept_agreement.py AGREEMENT (--keystore FILE | --dev-account N) [--spec SPEC.yaml] [--dry-run]
    python scripts/accept_agreement.py AGREEMENT --keystore payer.json --sign-to acceptance.json [--valid-for 7d]
    python scripts/accept_agreement.py AGREEMENT --dev-account 0 --signature-file acceptance.json

The same as ``settle agreement accept …`` (``--help`` lists every option). Under ``brownie run`` the network
defaults to Brownie's and, on a development chain, the signer to dev account 0.
"""

from __future__ import annotations

import sys
from typing import Any

COMMAND = ["agreement", "accept"]


def main(*argv: str) -> Any:
    from settle_cli.scripts import run_script

    return run_script(COMMAND, argv)


if __name__ == "__main__":
    main(*sys.argv[1:])
