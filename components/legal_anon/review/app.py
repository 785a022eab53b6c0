"""The review web app: a local page to check and correct each judgment's masks.

Served by uvicorn on 127.0.0.1 (``legal-anon review``). The pages show original text, so
every route - pages, static assets, API - needs the access token printed at start
(``?token=...`` once, then an HttpOnly same-site cookie, or the ``X-Review-Token`` header);
state-changing routes also need the page's CSRF token and a same-origin ``Origin``; the
``Host`` header must be the address the server was started on (no DNS rebinding); every
response carries a strict Content-Security-Policy. Document ids are looked up in the
review folder's list, never joined into a path. Nothing is fetched from outside: the
script and the style sheet are files of this package.
"""
from __future__ import annotations

import html
import secrets
from pathlib import Path
from typing import Callable, List, Optional

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from legal_anon.io.html_pages import LABEL_COLORS, REVIEW_WARNING
from legal_anon.pipeline.protected import ProtectedStrings
from legal_anon.review.store import Mask, ReviewError, ReviewStore, VersionConflict

STATIC_DIR = Path(__file__).parent / "static"
TOKEN_COOKIE = "legal_anon_review"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY", "Cache-Control": "no-store",
}


class MaskIn(BaseModel):
    start: int
    end: int
    label: str
    source: str = "reviewer"
    confidence: Optional[float] = None


class SaveRequest(BaseModel):
    version: int
    masks: List[MaskIn]
    accept: bool = False


def create_app(store: ReviewStore, write_outputs: Callable, reviewer: str, token: str,
               allowed_hosts: List[str]) -> FastAPI:
    """The app for one review folder. ``allowed_hosts``: "host:port" forms the server is
    reached by (the Host header and the Origin of state-changing requests must match)."""
    app = FastAPI(title="legal_anon review", docs_url=None, redoc_url=None, openapi_url=None)
    csrf = secrets.token_urlsafe(24)
    origins = {f"http://{h}" for h in allowed_hosts}

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.headers.get("host") not in allowed_hosts:
            return _refuse(403, "unexpected Host header: the review app answers only on the address it printed")
        given = (request.query_params.get("token") or request.headers.get("x-review-token")
                 or request.cookies.get(TOKEN_COOKIE))
        if not given:
            return _refuse(401, "access token required: open the URL that `legal-anon review` printed")
        if not secrets.compare_digest(given.encode(), token.encode()):
            return _refuse(403, "wrong access token")
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            if origin is not None and origin not in origins:
                return _refuse(403, f"cross-site request refused (Origin {origin})")
            if not secrets.compare_digest((request.headers.get("x-csrf-token") or "").encode(), csrf.encode()):
                return _refuse(403, "missing or wrong CSRF token: reload the page")
        response = await call_next(request)
        if request.query_params.get("token"):
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        for k, v in SECURITY_HEADERS.items():
            response.headers[k] = v
        return response

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/favicon.ico")
    def favicon():
        return Response(status_code=204)  # no icon, and no 404 in the browser's console

    @app.get("/", response_class=HTMLResponse)
    def document_list():
        return _page("Documents to review", "list", csrf)

    @app.get("/doc/{doc_id:path}", response_class=HTMLResponse)
    def document_page(doc_id: str):
        if not store.has(doc_id):
            return _refuse(404, "no such document")
        return _page(doc_id, "doc", csrf, doc_id)

    @app.get("/api/docs")
    def list_documents():
        return {"labels": list(store.labels), "documents": [store.summary(d) for d in store.doc_ids]}

    @app.get("/api/docs/{doc_id:path}")
    def get_document(doc_id: str):
        if not store.has(doc_id):
            return _refuse(404, "no such document")
        state = store.state(doc_id)
        return {**state, "text": store.record(doc_id)["text"], "labels": list(store.labels),
                "colors": {label: LABEL_COLORS.get(label, "#dddddd") for label in store.labels}}

    @app.get("/api/occurrences/{doc_id:path}")
    def occurrences(doc_id: str, start: int, end: int):
        """Other occurrences of text[start:end] on word boundaries (the anonymizer's rule)."""
        if not store.has(doc_id):
            return _refuse(404, "no such document")
        text = store.record(doc_id)["text"]
        if not (0 <= start < end <= len(text)) or not text[start:end].strip():
            return _refuse(400, f"[{start}, {end}) is not a non-empty part of the text")
        wanted = ProtectedStrings()
        wanted.add(text[start:end], None, whole_word=True)
        found = [{"start": s, "end": e} for s, e, _ in wanted.occurrences(text) if (s, e) != (start, end)]
        return {"text": text[start:end], "occurrences": found}

    @app.post("/api/save/{doc_id:path}")
    def save(doc_id: str, body: SaveRequest):
        if not store.has(doc_id):
            return _refuse(404, "no such document")
        masks = [Mask(m.start, m.end, m.label, m.source, m.confidence) for m in body.masks]
        try:
            state = store.save(doc_id, body.version, masks, reviewer, body.accept, write_outputs)
        except VersionConflict as e:
            return _refuse(409, str(e))
        except ReviewError as e:
            return _refuse(400, str(e))
        except OSError as e:
            return _refuse(500, f"the outputs could not be written ({e}); nothing was changed for this document")
        return state

    return app


def _refuse(status: int, message: str) -> Response:
    response = JSONResponse({"error": message}, status_code=status)
    for k, v in SECURITY_HEADERS.items():
        response.headers[k] = v
    return response


def _page(title: str, kind: str, csrf: str, doc_id: str = "") -> HTMLResponse:
    """The page shell: the script fills it from the API (no inline script: the CSP forbids it)."""
    body = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} - legal_anon review</title>"
        f"<meta name='csrf-token' content='{csrf}'>"
        f"<meta name='page' content='{kind}'><meta name='doc-id' content='{html.escape(doc_id, quote=True)}'>"
        "<link rel='stylesheet' href='/static/review.css'></head><body>"
        f"<p class='warning'>{html.escape(REVIEW_WARNING)}</p><main id='app'>Loading…</main>"
        "<script src='/static/review.js'></script></body></html>"
    )
    return HTMLResponse(body)
