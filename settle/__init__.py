"""Settle: recurring B2B billing and settlement on an EVM chain, paid through SEPA.

This package is shared by the oracle, the gateway and the operator scripts: configuration, the toolchain
(compiler driver, local node lifecycle), chain access, the agreement spec schema and the pricing model.
"""

import sys

import py_ecc  # noqa: F401 - imported here, once, so that the line below undoes what its import does

__version__ = "0.1.0"

#: Python's own default. py_ecc (imported by web3 and eth-account) raises the limit to 100,000 when imported, so
#: that deeply nested input (a JSON body 100,000 levels deep) overflows the C stack and kills the process with
#: SIGSEGV instead of raising ``RecursionError``. Every entry point (CLI, both services, their API workers, the
#: tests) imports this package before it serves anything, and py_ecc is imported only once per process.
RECURSION_LIMIT = 1000

sys.setrecursionlimit(RECURSION_LIMIT)
