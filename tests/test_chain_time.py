"""`settle chain time`: show and move a dev chain's clock, forward only, refused on chains that are not dev chains."""

from __future__ import annotations

from datetime import UTC, datetime

from chain_support import HOUR, SPARE_SECONDS, clear_of_hour_end
from operator_support import settle_cli

from settle.chain import DevChain


def test_show_advance_and_set(chain, rpc_url):
    dev = DevChain(chain)
    before = dev.now()
    shown = settle_cli("chain", "time", "--network", rpc_url)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("chain time ") and "wall clock" in shown.stdout

    advanced = settle_cli("chain", "time", "advance", "30d", "--network", rpc_url)
    assert advanced.returncode == 0, advanced.stderr
    assert dev.now() == before + 30 * 86_400
    assert "ahead of the wall clock" in advanced.stdout and "moved from" in advanced.stdout

    target = datetime.fromtimestamp(before + 400 * 86_400, UTC).date()
    moved = settle_cli("chain", "time", "set", target.isoformat(), "--network", rpc_url)
    assert moved.returncode == 0, moved.stderr
    assert dev.now() == int(datetime(target.year, target.month, target.day, tzinfo=UTC).timestamp())


def test_time_only_moves_forward_and_bad_input_is_one_line(chain, rpc_url):
    dev = DevChain(chain)
    before = dev.now()
    back = settle_cli("chain", "time", "set", "2020-01-01", "--network", rpc_url)
    assert back.returncode == 1 and "time only moves forward" in back.stderr and "Traceback" not in back.stderr
    assert settle_cli("chain", "time", "advance", "--network", rpc_url).stderr.startswith("error: 'settle chain time advance' needs")
    wrong = settle_cli("chain", "time", "rewind", "1d", "--network", rpc_url)
    assert wrong.returncode == 1 and "unknown action 'rewind'" in wrong.stderr
    assert "duration" in settle_cli("chain", "time", "advance", "soon", "--network", rpc_url).stderr
    assert dev.now() == before


def test_a_test_begins_clear_of_the_end_of_an_hour(dev):
    # Two minutes before an hour ends, the fixture's helper moves to the next hour's first second ...
    hour_end = (dev.now() // HOUR + 2) * HOUR
    dev.advance_to(hour_end - 120)
    clear_of_hour_end(dev)
    assert dev.now() == hour_end + 1

    # ... and with most of the hour left, it only mines a block at the chain's time.
    dev.advance_to(hour_end + HOUR // 2)
    clear_of_hour_end(dev)
    assert hour_end + HOUR // 2 <= dev.now() < hour_end + HOUR - SPARE_SECONDS


def test_the_chain_fixture_began_clear_of_the_end_of_an_hour(dev):
    assert HOUR - dev.now() % HOUR >= SPARE_SECONDS - 60  # a minute for the fixture's own steps on a loaded machine
