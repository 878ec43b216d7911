"""Who may look and who may act: the auth hook, basic auth, read-only, CSRF.

- **Auth hook**: any ``Callable[[Request], bool]``; False answers 401 (with a
  ``WWW-Authenticate: Basic`` challenge) before any page, API or action runs.
  :func:`basic_auth` builds one from a user name and password.
- **Read-only**: every POST answers 403 and pages hide their buttons.
- **CSRF**: a POST must carry the dashboard's token (a hidden field of every form)
  and, when the browser sends an ``Origin`` header, come from the dashboard's own
  origin. Either failing answers 403, so another site cannot make a logged-in
  browser press a button.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import ConfigurationError

AuthHook = Callable[[Request], bool]
OPEN_PATHS = frozenset({"/healthz"})
"""Answered without authentication (they reveal nothing but "the process is up")."""


def parse_credentials(text: str) -> tuple[str, str]:
    """``"user:password"`` -> (user, password); raises ConfigurationError."""
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ConfigurationError(
            "--auth must look like user:password (both non-empty), e.g. --auth admin:s3cret"
        )
    return user, password


def basic_auth(user: str, password: str) -> AuthHook:
    """An auth hook accepting HTTP basic auth with exactly this user and password."""
    expected = f"{user}:{password}".encode()

    def check(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, expected)

    return check


def new_token() -> str:
    """A fresh CSRF token for one dashboard process."""
    return secrets.token_urlsafe(32)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another origin."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser, or an old one; the token still has to match
    if origin == "null":
        return False
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def token_ok(given: object, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


class GuardMiddleware:
    """Applies the auth hook to every HTTP request and refuses POSTs in read-only mode."""

    def __init__(self, app: ASGIApp, *, auth: AuthHook | None, read_only: bool) -> None:
        self.app = app
        self.auth = auth
        self.read_only = read_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response: Response | None = None
        if self.auth is not None and scope["path"] not in OPEN_PATHS and not self.auth(request):
            response = PlainTextResponse(
                "authentication required",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="pgqueue", charset="UTF-8"'},
            )
        elif request.method not in ("GET", "HEAD") and self.read_only:
            response = PlainTextResponse("the dashboard runs read-only", status_code=403)
        elif request.method not in ("GET", "HEAD") and not same_origin(request):
            response = PlainTextResponse("cross-origin request refused", status_code=403)
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
