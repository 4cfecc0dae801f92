"""Settle: recurring B2B billing and settlement on an EVM chain, paid through SEPA.

This package is shared by the oracle, the gateway and the operator scripts: configuration, the toolchain
(compiler driver, local node lifecycle), chain access, the agreement spec schema and the pricing model.
"""

__version__ = "0.1.0"
