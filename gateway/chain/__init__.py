"""The chain-facing half of the gateway: events and the read model, the keeper, chain transactions (exactly once),
an agreement's facts read from the chain, and the dispute texts tied to on-chain actions."""
