"""Gateway: turns on-chain settlements into SEPA bank payments, reconciles bank statements and reports
payment status back on-chain."""
