"""settle.http and the recursion limit: what both HTTP services rely on to survive hostile bodies.

- Every entry point runs with Python's default recursion limit, whatever it imports (py_ecc raises it to 100,000
  on import, which turns a deeply nested JSON body into a SIGSEGV of the whole process).
- ``nesting_depth`` measures JSON nesting without decoding, brackets inside strings not counted.
- An app given ``install`` reads no body before its check passed, bounds it (413) and its depth (400), answers
  every error with one body, and names every method of a path in ``Allow``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException, Request
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from settle import RECURSION_LIMIT
from settle.http import MAX_DEPTH, install, nesting_depth

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

IMPORT_EVERYTHING = """
import sys
import web3, eth_account, eth_keys, py_ecc
import py_ecc.bn128, py_ecc.optimized_bn128, py_ecc.bls
import oracle.service, oracle.api, gateway.service, gateway.api, settle_cli.app
import settle.cli.agreement, settle.cli.status, oracle.cli, gateway.cli, settle_cli.demo
from oracle.service import api_app
print(sys.getrecursionlimit())
import json
try:
    json.loads("[" * 100_000 + "]" * 100_000)
except RecursionError:
    print("RecursionError")
"""


@pytest.mark.parametrize("first", ["import web3", "import oracle.service", "import gateway.api", "import settle"])
def test_the_recursion_limit_stays_python_s_default_whatever_is_imported_first(first):  # type: ignore[no-untyped-def]
    """In a fresh process, as each entry point starts (CLI, uvicorn's API worker via oracle.service, the tests):
    after everything the services import the limit is the default, and 100,000 nested brackets make the JSON
    decoder raise RecursionError instead of overflowing the C stack (exit by SIGSEGV)."""
    done = subprocess.run([sys.executable, "-c", f"{first}\n{IMPORT_EVERYTHING}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [str(RECURSION_LIMIT), "RecursionError"]
    assert RECURSION_LIMIT == 1000 and sys.getrecursionlimit() <= RECURSION_LIMIT + 2_000  # hypothesis adds a margin in tests


def test_importing_settle_does_not_import_py_ecc():
    """The limit is restored when py_ecc's import runs, not by importing it up front: commands that never touch the
    chain (``settle --help``) stay fast."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys, settle; print('py_ecc' in sys.modules, sys.getrecursionlimit())"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split() == ["False", str(RECURSION_LIMIT)], done.stderr


# -- nesting depth -------------------------------------------------------------------------------------------------

_TRICKY = st.text(alphabet=st.sampled_from('[]{}"\\ab\n\u00e9'), max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TRICKY,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TRICKY, inner, max_size=4),
    max_leaves=30,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@settings(max_examples=400, deadline=None)
@given(_JSON, st.booleans())
def test_nesting_depth_counts_only_brackets_outside_strings(value, ascii_only):  # type: ignore[no-untyped-def]
    text = json.dumps(value, ensure_ascii=ascii_only, indent=None if ascii_only else 1).encode()
    assert nesting_depth(text) == _depth(value)


def test_nesting_depth_of_the_attack_is_found_fast():
    assert nesting_depth(b"[" * 100_000 + b"]" * 100_000) == 100_000
    assert nesting_depth(b'{"a": "[[[[\\"[[[", "b\\\\": [[{}]]}') == 4
    assert nesting_depth(b"") == 0 and nesting_depth(b"not json") == 0


# -- an app with install ---------------------------------------------------------------------------------------------


class Thing(BaseModel):
    name: str


def _app(read: list[str]) -> FastAPI:
    app = FastAPI()

    def authenticate(request: Request) -> None:
        if request.headers.get("authorization") != "Bearer ok":
            raise HTTPException(401, "no key", headers={"WWW-Authenticate": "Bearer"})

    @app.post("/things")
    def add(thing: Thing) -> dict[str, str]:
        read.append(thing.name)
        return {"name": thing.name}

    @app.get("/things/{name}")
    def get(name: str) -> dict[str, str]:
        raise HTTPException(404, f"no thing {name!r}")

    @app.patch("/things/{name}")
    def change(name: str, thing: Thing) -> dict[str, str]:
        raise RuntimeError("a bug")

    install(app, authenticate=authenticate, max_body_bytes=1_000)
    return app


def test_no_body_is_read_before_the_check_and_none_beyond_the_bounds():
    read: list[str] = []
    client = TestClient(_app(read), raise_server_exceptions=False)
    ok = {"Authorization": "Bearer ok"}
    # FastAPI alone would decode these first and answer 422 / overflow; here none is read without the key
    for body in (b"{oops", b"[" * 100_000 + b"]" * 100_000, b'{"name": "' + b"x" * 5_000 + b'"}'):
        refused = client.post("/things", content=body, headers={"Content-Type": "application/json"})
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer", refused.text
    assert not read
    assert client.post("/things", json={"name": "a"}, headers=ok).json() == {"name": "a"} and read == ["a"]
    deep = client.post("/things", content=b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), headers=ok)
    assert deep.status_code == 400 and deep.json()["errors"] == [
        {"loc": ["body"], "msg": f"the JSON body nests {MAX_DEPTH + 1} levels deep; at most {MAX_DEPTH} are accepted", "type": "too_deep"}
    ]
    big = client.post("/things", json={"name": "b" * 1_000}, headers=ok)
    assert big.status_code == 413 and big.json()["errors"][0]["type"] == "too_large"
    assert read == ["a"]


def test_one_error_body_and_a_true_allow():
    client = TestClient(_app([]), raise_server_exceptions=False)
    ok = {"Authorization": "Bearer ok"}
    answers = {
        "raised": client.get("/things/x"),
        "validation": client.post("/things", json={"nom": 1}, headers=ok),
        "json": client.post("/things", content=b"{oops", headers={**ok, "Content-Type": "application/json"}),
        "bug": client.patch("/things/x", json={"name": "y"}, headers=ok),
    }
    assert {k: a.status_code for k, a in answers.items()} == {"raised": 404, "validation": 422, "json": 422, "bug": 500}
    assert answers["raised"].json() == {"detail": "no thing 'x'", "errors": [{"loc": [], "msg": "no thing 'x'", "type": "not_found"}]}
    assert answers["validation"].json() == {
        "detail": "body.name: Field required",
        "errors": [{"loc": ["body", "name"], "msg": "Field required", "type": "missing"}],
    }
    assert answers["json"].json()["errors"][0]["type"] == "json_invalid"
    assert "a bug" not in answers["bug"].text and answers["bug"].json()["errors"][0]["type"] == "internal"
    for method in ("options", "delete", "put"):
        refused = client.request(method.upper(), "/things/x")
        assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD, PATCH"
    spec = client.get("/openapi.json").json()
    assert spec["paths"]["/things"]["post"]["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert "HTTPValidationError" not in spec["components"]["schemas"]
