"""Settle: recurring B2B billing and settlement on an EVM chain, paid through SEPA.

This package is shared by the oracle, the gateway and the operator scripts: configuration, the toolchain
(compiler driver, local node lifecycle), chain access, the agreement spec schema and the pricing model.
"""

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

__version__ = "0.1.0"

#: Python's own default. py_ecc (imported by web3 and eth-account) raises the limit to 100,000 when imported, so
#: that deeply nested input (a JSON body 100,000 levels deep) overflows the C stack and kills the process with
#: SIGSEGV instead of raising ``RecursionError``. Every entry point (CLI, both services, their API workers, the
#: tests) imports this package before it serves anything: it restores the limit at once if py_ecc is already
#: imported, and otherwise right after py_ecc's import runs (py_ecc is imported at most once per process). Not
#: importing py_ecc here keeps commands that never touch the chain fast (``settle --help``).
RECURSION_LIMIT = 1000


class _RestoreRecursionLimit(importlib.abc.MetaPathFinder):
    """Finds ``py_ecc`` with the other finders and wraps its loader so the limit is restored after it runs."""

    def find_spec(self, fullname: str, path: object = None, target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "py_ecc":
            return None
        sys.meta_path.remove(self)  # one import of py_ecc per process: no need to stay
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)  # type: ignore[arg-type]
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        execute = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            try:
                execute(module)
            finally:
                sys.setrecursionlimit(RECURSION_LIMIT)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


sys.setrecursionlimit(RECURSION_LIMIT)
if "py_ecc" not in sys.modules:
    sys.meta_path.insert(0, _RestoreRecursionLimit())
