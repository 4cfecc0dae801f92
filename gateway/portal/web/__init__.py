"""The web dashboard under ``/app`` (docs/portal.md, "Dashboard"): :data:`router` has the pages (and ``/invite``,
the invitation e-mails' link, which leads to ``/app/invite``), :func:`static_files` serves the CSS, the script and
the vendored npm libraries under ``/app/static``."""

from __future__ import annotations

import anyio
from fastapi import APIRouter
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from gateway.portal.web import pages
from gateway.portal.web.pages import STATIC_DIR

router = APIRouter(include_in_schema=False)
router.include_router(pages.router)
router.include_router(pages.links)

STATIC_PATH = "/app/static"


class _Static:
    """The static files, answered without ever asking for a request body: the API's body guard authenticates any
    request whose body the app reads (settle.http), and Starlette's file responses wait on ``receive`` for a
    disconnect while they stream — which would run that check on a plain GET of a stylesheet."""

    def __init__(self) -> None:
        self.files = StaticFiles(directory=STATIC_DIR)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def no_body() -> Message:
            await anyio.sleep_forever()  # cancelled when the file is sent
            raise AssertionError("unreachable")

        await self.files(scope, no_body, send)


def static_files() -> _Static:
    return _Static()


__all__ = ["STATIC_PATH", "router", "static_files"]
