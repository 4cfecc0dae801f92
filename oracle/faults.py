"""Named crash points for the oracle's crash tests (``settle.faults``): with ``SETTLE_ORACLE_CRASH=NAME`` (or ``NAME@N`` for the N-th
time the point is reached) the process kills itself with SIGKILL right there — no cleanup, no flush, no
``finally``, exactly what a power cut or the OOM killer does. Unset (always, outside tests) a crash point costs one
dictionary lookup.

Points (in the submitter's flow order):

- ``submit.cut`` — reports were cut (root, totals) and committed; nothing of them is signed yet;
- ``submit.signed`` — signed transactions are committed and not broadcast yet;
- ``submit.broadcast`` — they were broadcast; the node may mine them before the oracle looks again;
- ``submit.rebroadcast`` — stored transactions the node did not know were broadcast again after a restart;
- ``submit.confirmed`` — confirmations (and the totals they raise) were committed.
"""

from __future__ import annotations

from settle.faults import CrashPoints

ENV = "SETTLE_ORACLE_CRASH"
POINTS = ("submit.cut", "submit.signed", "submit.broadcast", "submit.rebroadcast", "submit.confirmed")
crashpoint = CrashPoints(ENV, POINTS).hit
