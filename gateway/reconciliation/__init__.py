"""Reconciliation (issue 13): bank statements to open items. Pure libraries, no database or chain yet.

- :mod:`.model` — the shared frozen dataclasses (:class:`~.model.BankLine`, :class:`~.model.OpenItem`,
  :class:`~.model.RemittanceRef`, :class:`~.model.Allocation`, :class:`~.model.Decision`).
- :mod:`.statements` — one reader for camt.052/053/054, MT940 and pain.002 giving :class:`~.model.BankLine` s.
"""
