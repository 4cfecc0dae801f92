"""Usage oracle: ingests ERP usage records, aggregates them per agreement, meter and period, and reports
cumulative totals with a Merkle root of the raw records on-chain."""
