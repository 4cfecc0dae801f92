"""Receivables (issue 14): what happens after a settlement is due and not paid — dunning that escalates to the
agreement's service status on-chain and stops on payment, the open-items list (OPOS), aging and DSO, notices ahead
of trouble — and the domain events all of it is recorded as (``events.py``), from which notices are sent."""
