"""The FastAPI app of `warmstart serve`: routes from the route table, batching, limits, errors, health.

``create_app(predictor, settings)`` registers every prediction route that serves the loaded model
(``routes.routes_for``), each behind its own micro-batcher; all batchers share one worker thread, so
forward passes never compete for the CPU and the event loop stays free to accept requests. Around
the routes: a body-size limit (413), Prometheus metrics, an optional API key on every /v1 route, and
error handlers that turn bad input into a JSON ``{"error": {...}}`` with status 401/404/413/422,
never a 500. ``/healthz`` says the process lives; ``/readyz`` says it takes traffic (model loaded
and warmed up, not shutting down).
"""

# NOTE: no `from __future__ import annotations` here: FastAPI reads the endpoint closures' annotations
# (each route's request model) at registration time, and string annotations would not resolve.

import hmac
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Optional

from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from starlette.exceptions import HTTPException

from warmstart import __version__
from warmstart.errors import InputError
from warmstart.serving import schemas
from warmstart.serving.batcher import MicroBatcher
from warmstart.serving.images import UnsupportedMedia
from warmstart.serving.limits import API_KEY_HEADER, LimitExceeded, ServeSettings
from warmstart.serving.metrics import ServeMetrics
from warmstart.serving.routes import Route, routes_for

log = logging.getLogger("warmstart.serve")

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.ErrorResponse, "description": text}
    for code, text in ((401, "missing or wrong API key"), (413, "over a size limit (the error names it)"),
                       (422, "malformed JSON, wrong types, or input the model cannot take"))
}
_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
                 413: "limit_exceeded", 415: "unsupported_media_type", 503: "unavailable"}


@dataclass
class ServerState:
    ready: bool = False  # model warmed up, batchers running
    draining: bool = False  # SIGTERM received: finishing in-flight requests, taking no new ones


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    body = {"code": code, "message": message, **{k: v for k, v in extra.items() if v is not None}}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def create_app(predictor, settings: ServeSettings) -> FastAPI:
    routes = routes_for(predictor)
    if not routes:
        raise InputError(f"no route serves a model of kind {predictor.kind!r}")
    metrics = ServeMetrics()
    state = ServerState()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="warmstart-model")
    batchers = {route.name: MicroBatcher(partial(route.run, predictor), executor, settings.max_batch_size,
                                         settings.max_wait_ms, on_batch=partial(metrics.observe_batch, route.name))
                for route in routes}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import asyncio

        for batcher in batchers.values():
            batcher.start()
        await asyncio.get_running_loop().run_in_executor(executor, predictor.warm_up)
        state.ready = True
        log.info("ready: %s model, routes %s", predictor.kind, ", ".join(r.path for r in routes))
        yield
        # uvicorn calls this after in-flight requests finished (graceful shutdown); answer any stragglers
        state.ready = False
        for batcher in batchers.values():
            await batcher.close()
        executor.shutdown(wait=True)

    app = FastAPI(
        title="warmstart serve", version=__version__, lifespan=lifespan,
        description=f"Predictions of a warmstart {predictor.kind} model ({predictor.folder.name}). Concurrent "
        f"requests are micro-batched (up to {settings.max_batch_size} items or {settings.max_wait_ms} ms). "
        f"Limits: {settings.max_texts_per_request} texts per request, {settings.max_chars_per_text} characters "
        f"per text, {settings.max_body_bytes} bytes per body."
        + (f" Every /v1 route needs the `{API_KEY_HEADER}` header." if settings.api_key else ""),
    )
    app.state.warmstart = state
    app.state.metrics = metrics
    dependencies = [Security(_api_key_check(settings.api_key))] if settings.api_key else []

    for route in routes:
        app.add_api_route(route.path, _endpoint(route, batchers[route.name], settings, predictor), methods=["POST"],
                          response_model=route.response, response_model_exclude_none=True, summary=route.summary,
                          dependencies=dependencies, openapi_extra=route.openapi_extra,
                          responses=_ERROR_RESPONSES, tags=["predict"])

    info = schemas.ModelInfo(**predictor.describe(), routes=[r.path for r in routes], limits=settings.public())

    @app.get("/v1/model", response_model=schemas.ModelInfo, dependencies=dependencies, tags=["predict"],
             responses={401: _ERROR_RESPONSES[401]}, summary="What is served: kind, labels, routes and limits")
    async def model_info() -> schemas.ModelInfo:
        return info

    _add_health_routes(app, state, metrics)
    _add_error_handlers(app)
    # pure ASGI middleware; the last added is the outermost, so metrics also count the 413s of the body limit
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    return app


def _add_health_routes(app: FastAPI, state: ServerState, metrics: ServeMetrics) -> None:
    """/healthz (alive), /readyz (warmed up and not draining) and Prometheus /metrics; never behind the API key."""

    @app.get("/healthz", tags=["health"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Ready for traffic: 200, else 503",
             responses={503: {"model": schemas.ErrorResponse, "description": "starting or shutting down"}})
    async def readyz():
        if state.ready and not state.draining:
            return {"status": "ready"}
        return error_response(503, "unavailable", "shutting down" if state.draining else "starting")

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {}}}})
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)


def _json(response) -> Response:
    # NOTE: the response model is built by our own code, so FastAPI's second validation of it and its
    # jsonable_encoder pass are skipped: pydantic writes the JSON itself (the declared response_model
    # still documents the route in OpenAPI).
    return Response(response.model_dump_json(exclude_none=True), media_type="application/json")


def _endpoint(route: Route, batcher: MicroBatcher, settings: ServeSettings, predictor):
    if route.read is not None:  # the route parses its own body (e.g. multipart uploads or JSON)
        async def predict(request: Request):
            body = await route.read(request, settings)
            items = route.items(body, settings, predictor)
            return _json(route.respond(body, await batcher.submit(items)))
    else:
        async def predict(body: route.request):  # type: ignore[name-defined]
            items = route.items(body, settings, predictor)
            return _json(route.respond(body, await batcher.submit(items)))

    predict.__name__ = route.name.replace("-", "_")
    return predict


def _api_key_check(expected: str):
    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="the key given to `warmstart serve`")

    async def check(key: Optional[str] = Security(header)) -> None:
        # compare_digest: the time taken does not tell how much of a guess was right
        if key is None or not hmac.compare_digest(key.encode("utf-8", "surrogateescape"), expected.encode("utf-8")):
            raise HTTPException(401, f"missing or wrong {API_KEY_HEADER} header", headers={"WWW-Authenticate": "ApiKey"})

    return check


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, error: RequestValidationError) -> JSONResponse:
        details = [{"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", "")),
                    "type": str(e.get("type", ""))} for e in error.errors()]
        malformed = any(d["type"] == "json_invalid" for d in details)
        shown = "; ".join(f"{'.'.join(d['loc'][1:]) or 'body'}: {d['msg']}" for d in details[:3])
        return error_response(422, "malformed_json" if malformed else "invalid_request",
                              f"the request body is {'not valid JSON' if malformed else 'invalid'}: {shown}",
                              details=details)

    @app.exception_handler(LimitExceeded)
    async def over_limit(request, error: LimitExceeded) -> JSONResponse:
        return error_response(error.status, "limit_exceeded", str(error), limit=error.limit, maximum=error.maximum,
                              got=error.got)

    @app.exception_handler(UnsupportedMedia)
    async def unsupported_media(request, error: UnsupportedMedia) -> JSONResponse:
        return error_response(415, "unsupported_media_type", str(error))

    @app.exception_handler(InputError)
    async def invalid_input(request, error: InputError) -> JSONResponse:
        return error_response(422, "invalid_input", str(error))

    @app.exception_handler(HTTPException)
    async def http_error(request, error: HTTPException) -> JSONResponse:
        return error_response(error.status_code, _STATUS_CODES.get(error.status_code, "http_error"), str(error.detail),
                              headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request, error: Exception) -> JSONResponse:
        log.exception("internal error on %s", request.url.path)
        return error_response(500, "internal_error", "the server failed on this request; see its log")


# ---- ASGI middleware --------------------------------------------------------------------------


async def _send_json(send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413 before anything parses them (declared or streamed size)."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _too_large(self, got: int) -> dict[str, Any]:
        return {"error": {"code": "limit_exceeded", "limit": "max_body_bytes", "maximum": self.max_bytes, "got": got,
                          "message": f"request body: {got} bytes is over max_body_bytes={self.max_bytes}"}}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _send_json(send, 413, self._too_large(int(declared)))
            return
        chunks, total, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left before sending its body
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await _send_json(send, 413, self._too_large(total))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # e.g. waiting for http.disconnect

        await self.app(scope, replay, send)


class RequestMetrics:
    """Count and time every request by route template (unknown paths: ``other``) and status."""

    def __init__(self, app, metrics: ServeMetrics) -> None:
        self.app, self.metrics = app, metrics
        self._paths: set[str] | None = None

    def _route(self, scope) -> str:
        if self._paths is None:
            app = scope.get("app")
            self._paths = {getattr(r, "path", "") for r in getattr(app, "routes", [])}
        path = scope.get("path", "")
        return path if path in self._paths else "other"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # if the app raises before answering
        start = time.perf_counter()

        async def recording_send(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.metrics.in_flight.dec()
            self.metrics.observe_request(self._route(scope), status, time.perf_counter() - start)
