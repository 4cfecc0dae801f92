"""Webhooks (issue 15): parties and the operator subscribe URLs to domain events (``subscriptions.py``); the
``webhooks`` worker fans every new event out to the endpoints that may see it and delivers each, signed with
HMAC-SHA256 (``settle.webhooks``), with retries, an attempt log, replay and disabling of endpoints that keep failing
(``dispatch.py``, ``worker.py``). docs/webhooks.md describes what a receiver gets and how to verify it."""
