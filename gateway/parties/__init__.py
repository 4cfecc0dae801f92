"""Party master data kept off-chain: parties, bank accounts, SEPA mandates and how each agreement is paid."""
