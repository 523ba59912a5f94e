"""Behind a reverse proxy: a request claims https (X-Forwarded-Proto) only through a proxy the server was
told to trust (serve --forwarded-allow-ips); --secure-cookies marks cookies Secure without any proxy header."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest


def _serve(app: Any, **options: Any) -> tuple[Any, str]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def _cookies_secure(url: str, **headers: str) -> bool:
    """Whether the first-run page's cookie comes with the Secure flag."""
    import httpx

    r = httpx.get(f"{url}/setup", headers=headers)
    cookies = r.headers.get_list("set-cookie")
    assert r.status_code == 200 and cookies
    return all("secure" in c.lower() for c in cookies)


@pytest.mark.parametrize(
    ("options", "secure_cookies", "believed"),
    [
        ({}, None, True),  # uvicorn on its own believes 127.0.0.1: what `serve` no longer does
        ("none", None, False),  # serve's default: no proxy headers believed
        ("127.0.0.1", None, True),  # --forwarded-allow-ips 127.0.0.1: the local proxy is believed
        ("10.9.8.7", None, False),  # a proxy elsewhere: a local client cannot pose as it
        ("none", True, None),  # --secure-cookies: Secure whatever the headers say
    ],
)
def test_https_is_believed_only_from_an_allowed_proxy(tmp_path, options, secure_cookies, believed) -> None:  # noqa: ANN001
    from datamill.feedback.app import create_app, proxy_options

    kw = {} if options == {} else proxy_options(None if options == "none" else options)
    app = create_app(f"sqlite:///{tmp_path / 'p.db'}", secure_cookies=secure_cookies)
    server, url = _serve(app, **kw)
    try:
        claimed = _cookies_secure(url, **{"X-Forwarded-Proto": "https"})
        plain = _cookies_secure(url)
        if secure_cookies:
            assert claimed and plain
        else:
            assert claimed is believed and not plain
    finally:
        server.should_exit = True


def test_serve_refuses_an_empty_proxy_list() -> None:
    from typer.testing import CliRunner

    from datamill.cli.main import app

    r = CliRunner().invoke(app, ["feedback", "serve", "--forwarded-allow-ips", " "])
    assert r.exit_code != 0 and "forwarded_allow_ips is empty" in str(r.exception)
