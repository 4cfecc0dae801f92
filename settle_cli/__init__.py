"""The composition root: the ``settle`` command line, which mounts the command groups of the shared package
(``settle.cli``), the oracle (``oracle.cli``) and the gateway (``gateway.cli``), and the end-to-end demo.

It is the only package that depends on all three; ``settle`` itself never imports ``oracle`` or ``gateway``
(``python -m settle`` delegates here, the one visible edge). Command groups are imported only when invoked
(:mod:`settle_cli.app`), so ``settle --help`` loads none of web3, FastAPI, SQLAlchemy or the services.
"""

import settle  # noqa: F401 - first: restores the recursion limit py_ecc raises (see settle/__init__.py)


def main() -> None:
    """Console entry point (``settle``)."""
    from settle_cli.app import root

    root.main(prog_name="settle")
