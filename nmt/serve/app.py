"""`nmt serve`'s HTTP interface (FastAPI): POST /translate, GET /health, GET /info.

The event loop only parses, checks and answers; translation runs on the Batcher's thread, which
decodes the sentences of concurrent requests together. Every refusal is a JSON body
`{"error": "one line"}` with a 4xx status (503 with Retry-After when the queue is full; 500 for the
requests of a batch whose translation failed), and the server goes on serving after it.
"""
import asyncio
import contextlib
import json
import platform
from dataclasses import asdict, dataclass

import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field, ValidationError, create_model

from nmt import __version__
from nmt.decode.options import search_fields, with_options
from nmt.decode.translate import Translator
from nmt.errors import NmtError
from nmt.serve.batcher import Batcher, Overloaded

TranslateRequest = create_model(
    "TranslateRequest", __config__=ConfigDict(extra="forbid", strict=True),
    text=(list[str], Field(description="sentences to translate, one per item")), **search_fields())


class RequestError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


@dataclass
class Service:
    """The loaded model and the server's default settings (the model's, with the command line's on top)."""
    model: object
    tokenizers: object
    device: torch.device
    settings: object  # DecodeConfig
    info: dict

    def translate(self, settings, lines):
        return Translator(self.model, self.tokenizers, self.device, settings).translate_nbest(lines)


def create_app(service, limits):
    """`limits.workers` decoder threads (at least one); the sentences in flight at once stay the batch size,
    split between them."""
    batch_lines = max(1, service.settings.batch_size // limits.workers)
    batcher = Batcher(service.translate, limits.max_wait_ms / 1000, batch_lines, limits.max_queued, limits.workers)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        batcher.close()  # after the server has answered every request in flight

    app = FastAPI(title="nmt", version=__version__, lifespan=lifespan)

    @app.exception_handler(RequestError)
    async def refuse(request, error):
        headers = {"Retry-After": "1"} if error.status == 503 else None
        return JSONResponse({"error": str(error)}, status_code=error.status, headers=headers)

    @app.get("/health")
    async def health():
        return {"status": "ok", "queued": batcher.queued, "batches": batcher.batches, "sentences": batcher.sentences}

    @app.get("/info")
    async def info():
        return {**service.info, "decode": service.settings.model_dump(), "limits": asdict(limits)}

    @app.post("/translate", openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": TranslateRequest.model_json_schema()}}}})
    async def translate(request: Request):
        body = parse_request(await read_body(request, limits.max_body_bytes), limits)
        options = body.model_dump(exclude={"text"})
        try:
            settings = with_options(service.settings, options)
            future = batcher.submit(body.text, settings)
        except NmtError as e:
            raise RequestError(422, str(e)) from None
        except Overloaded as e:
            raise RequestError(503, f"busy: {e}; retry later") from None
        try:
            results = await asyncio.wrap_future(future)
        except Exception as e:  # noqa: BLE001 - one request's failure is its own 500, not the server's end
            raise RequestError(500, f"translation failed: {e}") from None
        answer = {"translations": [nbest[0].text for nbest in results]}
        if body.n_best is not None:
            answer["n_best"] = [[{"text": t.text, "score": t.score} for t in nbest] for nbest in results]
        return answer

    return app


async def read_body(request, limit):
    """The request's bytes; 413 as soon as they pass `limit`, so a huge body is never held whole."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise RequestError(413, f"request body of {length} bytes; at most {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestError(413, f"request body over {limit} bytes")
    return bytes(body)


def parse_request(body, limits):
    """A TranslateRequest from the body's bytes, or the RequestError that says what is wrong."""
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise RequestError(400, f"request body is not UTF-8 (invalid byte at offset {e.start})") from None
    except json.JSONDecodeError as e:
        raise RequestError(400, f"invalid JSON: {e}") from None
    try:
        request = TranslateRequest.model_validate(data)
    except ValidationError as e:
        raise RequestError(422, _describe(e.errors()[0])) from None
    if len(request.text) > limits.max_lines:
        raise RequestError(413, f"{len(request.text)} sentences in one request; at most {limits.max_lines}")
    for i, line in enumerate(request.text):
        if len(line) > limits.max_chars:
            raise RequestError(413, f"text[{i}] has {len(line)} characters; at most {limits.max_chars}")
        if not line.isascii() and not _encodable(line):
            raise RequestError(400, f"text[{i}] is not valid Unicode (a lone surrogate)")
    return request


def _describe(error):
    """One line for pydantic's first error: where (text[3], beam) and what."""
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
    if error["type"] == "extra_forbidden":
        known = ", ".join(TranslateRequest.model_fields)
        return f"unknown option {where!r} (known: {known})"
    if error["type"] == "model_type":
        return "the body must be a JSON object with a \"text\" list"
    return f"{where}: {error['msg']}" if where else error["msg"]


def _encodable(line):
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def service_info(model_dirs, device, dtype, quantize, tokenizers, model_config):
    """What GET /info tells about the model and the software (settings and limits are added there)."""
    return {"models": [str(d) for d in model_dirs], "device": str(device), "dtype": dtype, "quantize": quantize,
            "vocabulary": {"src": tokenizers.src.vocab_size, "tgt": tokenizers.tgt.vocab_size,
                           "joint": tokenizers.joint},
            "model": model_config,
            "versions": {"nmt": __version__, "torch": torch.__version__, "python": platform.python_version()}}
