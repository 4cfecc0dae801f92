"""Length-prefixed pickles over a pipe: how the oracle's helper processes (``python -m oracle.worker``,
``python -m oracle.merkle``) and their parent talk. Both ends are this code base, so pickle is safe here."""

from __future__ import annotations

import pickle
import struct
from typing import IO, Any

_LEN = struct.Struct("<Q")


def send(out: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_LEN.pack(len(data)))
    out.write(data)
    out.flush()


def recv(stream: IO[bytes]) -> Any:
    """The next message; ``EOFError`` when the other end closed the pipe (or died) mid-message."""
    head = stream.read(_LEN.size)
    if len(head) < _LEN.size:
        raise EOFError
    (size,) = _LEN.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)
