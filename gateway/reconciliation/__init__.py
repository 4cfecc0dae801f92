"""Reconciliation (issue 13): bank statements to open items. Pure libraries, no database or chain yet.

- :mod:`.model` — the shared frozen dataclasses (:class:`~.model.BankLine`, :class:`~.model.OpenItem`,
  :class:`~.model.RemittanceRef`, :class:`~.model.Allocation`, :class:`~.model.Decision`).
- :mod:`.statements` (with :mod:`.mt940`, :mod:`.pain002`) — one reader for camt.052/053/054, MT940 and pain.002
  giving :class:`~.model.BankLine` s.
- :mod:`.remittance` — remittance advices (PDF text layer, or OCR of scans) as invoice numbers and amounts.
- :mod:`.engine` — the matching engine: evidence, candidates and one decision per line (``auto``, ``review``,
  ``none``); :mod:`.evaluate` and :mod:`.cli` — ``settle reconcile evaluate``; :mod:`.synthetic` — a seeded noisy
  corpus with ground truth for tests and the benchmark.
"""
