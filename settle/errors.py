"""The project's exceptions: one root, families below it.

Messages say what was wrong and what to do about it; the command line prints them as one line.
"""

from __future__ import annotations


class SettleError(Exception):
    """Root of every error Settle raises on purpose."""


class ConfigError(SettleError):
    """A setting, file or path the user provided is missing or invalid."""


class ToolchainError(SettleError):
    """A required external tool (node, npm packages, solc, anvil) is missing or does not work."""


class CompileError(ToolchainError):
    """The Solidity compiler rejected the sources."""


class NodeError(ToolchainError):
    """A local chain node could not be started, reached or stopped."""


class DatabaseError(SettleError):
    """The database could not be reached or refused the connection (down, wrong host or port, wrong credentials)."""


class ChainError(SettleError):
    """Talking to the chain failed (RPC unreachable, wrong chain, transaction not mined)."""


class ContractRevert(ChainError):
    """A contract call reverted; carries the decoded custom error when the ABI knows it."""

    def __init__(self, message: str, *, error_name: str | None = None, args: tuple = (), data: bytes = b""):
        super().__init__(message)
        self.error_name = error_name
        self.error_args = args
        self.data = data


class ValidationError(SettleError):
    """Input data (a spec, a usage record, a bank file) is malformed or breaks a rule."""
