"""Where the composition root plugs the parts into the shared package's extension points: the only code that
knows both sides. Each function runs when the command group that needs it is loaded (:data:`settle_cli.app.COMMANDS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def connect_dispute_notes() -> None:
    """Dispute texts reach the gateway's database through the gateway's own code (``settle.disputes``)."""
    from settle import disputes

    disputes.use_database_store(store_note_in_gateway_database)


def store_note_in_gateway_database(url: str, chain: Any, document: Mapping[str, Any]) -> str:
    """Keep the text of a recorded dispute action in the gateway's database at ``url``, once the gateway found its
    hash in the party's own transaction on ``chain``; returns the database (password hidden)."""
    from gateway.chain.disputes import store_note, verify_transaction
    from gateway.database import open_database, unit_of_work
    from settle.config import cli_actor

    engine, factory = open_database(url)
    try:
        action = verify_transaction(
            chain, str(document["agreement"]), int(document["period"]), str(document["tx_hash"]), str(document["text"])
        )
        with unit_of_work(factory, cli_actor()) as session:
            store_note(session, chain.chain_id, str(document["text"]), action, origin="cli")
        return engine.url.render_as_string(hide_password=True)
    finally:
        engine.dispose()
