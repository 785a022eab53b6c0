"""``legal-anon review``: start the review app on this machine, with a fresh access token."""
from __future__ import annotations

import ipaddress
import secrets
import socket
import sys
from pathlib import Path
from typing import Optional

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def build(review_dir: Path, reviewer: str, host: str, port: int, token: Optional[str] = None):
    """The app, its URL and token for a review folder (no server started)."""
    from legal_anon.review.app import create_app
    from legal_anon.review.outputs import ReviewOutputs
    from legal_anon.review.store import ReviewStore

    store = ReviewStore(review_dir)
    outputs = ReviewOutputs(store.run)  # fails now, not at the first save, if the hash salt is missing
    token = token or secrets.token_urlsafe(32)
    hosts = [f"{host}:{port}"] + ([f"localhost:{port}", f"127.0.0.1:{port}"] if is_loopback(host) else [])
    app = create_app(store, outputs, reviewer, token, allowed_hosts=hosts)
    return app, f"http://{host}:{port}/?token={token}", token


def serve(review_dir: Path, reviewer: str, host: Optional[str] = None, port: int = 0) -> None:
    """Serve until Ctrl-C. ``host`` defaults to 127.0.0.1; any other address is warned about."""
    import uvicorn

    if host is None:
        host = LOOPBACK
    elif not is_loopback(host):
        print(f"WARNING: --host {host} exposes the review pages, which show the ORIGINAL identifiers, "
              "to every machine that can reach this address. Prefer 127.0.0.1 and an SSH tunnel.", file=sys.stderr)
    port = port or free_port(host)
    app, url, _ = build(review_dir, reviewer, host, port)
    print(f"Review app for {review_dir} (reviewer: {reviewer})\n"
          f"Open this URL (it holds the access token; do not share it):\n    {url}\n"
          "Ctrl-C stops the server; every save is already on disk.", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
