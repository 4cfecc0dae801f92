"""Schemathesis over a served OpenAPI document, in process (ASGI), as ``schemathesis run`` would: every phase
(schema examples, coverage of boundaries and unsupported methods, fuzzing, stateful sequences) and every check
(no 5xx, responses and status codes as documented, schema-violating requests refused, ``Allow`` true, auth not
ignored). Seeded and derandomized, with a bounded number of examples, so a run is repeatable.

Schemathesis' pytest integration does not run under this pytest, so its engine is driven directly and the
failures are collected with a ``curl`` line each to reproduce them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.engine import Status, events, from_schema

#: Statuses a request that the schema allows may get. 400 and 422 are in: a schema cannot say that an IBAN's check
#: digits are right, that a party or mandate exists, or that a record's agreement is known, so a request can be
#: well-formed and still be refused for a field it names. 429: sign-in is rate limited per client, and a fuzzer is one
#: client. 503: what the gateway is not set up for (no chain: no Sign-In with Ethereum; no SMTP: no invitations).
ACCEPTED_FOR_VALID_REQUESTS = ["2xx", "400", "401", "403", "404", "409", "422", "429", "503"]


#: Uploads of remittance advices (application/pdf): any bytes, and bytes that start like a PDF and are not one.
schemathesis.openapi.media_type("application/pdf", st.binary(max_size=2_048) | st.binary(max_size=2_048).map(lambda b: b"%PDF-1.7\n" + b))


@dataclass
class FuzzRun:
    failures: list[str] = field(default_factory=list)
    statuses: dict[str, Counter[int | None]] = field(default_factory=lambda: defaultdict(Counter))

    def reached(self, operation: str) -> set[int | None]:
        """Statuses an operation answered."""
        return set(self.statuses[operation])


#: Routes that end the credential they are called with.
ENDS_OWN_CREDENTIAL = ("/v1/auth/sign-out", "/v1/tokens/{prefix}")


def fuzz(app: Any, *, auth: dict[str, dict[str, str]], max_examples: int, seed: int = 20_260_101) -> FuzzRun:
    """Run schemathesis against ``app``'s ``/openapi.json``; ``auth`` maps security scheme names to credentials
    (``{"apiKey": {"api_key": …}}``, ``{"bearer": {"bearer": …}}``), given wherever a route declares the scheme;
    ``{}``: no credentials (an anonymous caller)."""
    config = schemathesis.Config.from_dict(
        {
            "seed": seed,
            # no example database and no cache: a run depends on the seed and the code alone
            "generation": {"max-examples": max_examples, "deterministic": True, "database": "none"},
            "cache": {"enabled": False},
            # no credentials at all: the section is left out (schemathesis wants at least one when it is given)
            **({"auth": {"openapi": auth}} if auth else {}),
            "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_FOR_VALID_REQUESTS}},
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    if auth:
        # signing out and revoking a token end the fuzzer's own credential: every later request would be a 401;
        # they have tests of their own (tests/portal, the authorisation matrix)
        schema = schema.exclude(path=list(ENDS_OWN_CREDENTIAL))
    run = FuzzRun()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            label = event.recorder.label
            for interaction in event.recorder.interactions.values():
                run.statuses[label][interaction.response.status_code if interaction.response is not None else None] += 1
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure, sample = check.failure_info.failure, check.failure_info.code_sample
                        run.failures.append(f"{label} [{check.name}] {failure.title}: {failure.message}\n  {sample}")
        elif isinstance(event, events.NonFatalError):
            run.failures.append(f"{event.label} [error]: {event.value!r}\n  {event.info.code_sample}")
        elif isinstance(event, events.FatalError):
            run.failures.append(f"schemathesis [fatal]: {event.exception!r}")
    return run


def report(run: FuzzRun) -> str:
    """The distinct failures (the first of each kind per operation), for an assertion message."""
    seen: dict[str, str] = {}
    for failure in run.failures:
        seen.setdefault(failure.split(":", 1)[0], failure)
    return "\n".join(seen.values())
