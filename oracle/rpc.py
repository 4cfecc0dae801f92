"""The JSON-RPC client is shared: :mod:`settle.rpc`. This name stays until the last oracle modules and tests import
it from there."""

from settle.rpc import Rpc, RpcError

__all__ = ["Rpc", "RpcError"]
