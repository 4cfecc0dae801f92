"""The test chain's clock and the hourly periods most tests bill.

Most tests bill hourly periods that end on the hour of chain time (which follows the wall clock). A test begun in an
hour's last minutes would see one more period end while it runs, and settle, pay and invoice it: the ``chain``
fixture (tests/conftest.py) begins it at the start of the next hour instead, through :func:`clear_of_hour_end`.
It lives here, not in conftest.py, so a test can import it: under pytest-xdist ``conftest`` may name another
folder's.
"""

from __future__ import annotations

from settle.chain import DevChain

SPARE_SECONDS = 10 * 60
HOUR = 3600


def clear_of_hour_end(dev: DevChain) -> None:
    """Leave at least :data:`SPARE_SECONDS` of chain time before the end of the hour, moving to the next hour's
    first second when fewer are left."""
    dev.mine()  # the chain's time now (the latest block's is older when nothing was mined for a while)
    now = dev.now()
    if HOUR - now % HOUR < SPARE_SECONDS:
        dev.advance_to(now - now % HOUR + HOUR + 1)
