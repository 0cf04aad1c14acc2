"""The prediction routes, as a table: which model kinds each serves, its bodies, and its three steps.

A ``Route`` turns a validated request into batch items (``items``, on the event loop: limits and
cheap checks only), runs items from many requests at once (``run``, on the worker thread: the
predictor's batch function) and builds one request's response from its items' results
(``respond``). The app registers every route whose ``serves(predictor)`` is true for the loaded
model. A new kind of model (say image classification) adds a predictor with that ``kind`` and one
``Route`` here; the app, batching, limits, metrics and API key need no change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from pydantic import BaseModel

from warmstart.errors import InputError
from warmstart.serving import schemas
from warmstart.serving.limits import LimitExceeded, ServeSettings, check_texts
from warmstart.serving.predictor import PRETRAINED, ClassifyItem, EmbedItem, FillMaskItem, QAItem

SEQUENCE_KINDS = frozenset({"classification", "pair_classification", "regression", "multilabel"})
TEXT_KINDS = SEQUENCE_KINDS | {"token_classification", "qa", PRETRAINED}


@dataclass(frozen=True)
class Route:
    name: str  # metrics label and batcher key
    path: str
    summary: str
    request: type[BaseModel]
    response: type[BaseModel]
    serves: Callable[[Any], bool]  # predictor -> does this model answer the route?
    items: Callable[[Any, ServeSettings, Any], list[Any]]  # (request, settings, predictor) -> batch items
    run: Callable[[Any, list[Any]], list[Any]]  # (predictor, items) -> one result (or InputError) per item
    respond: Callable[[Any, list[Any]], BaseModel]  # (request, results) -> response
    # a body FastAPI cannot model alone (multipart or JSON): async (starlette Request, settings) -> request
    read: Callable[[Any, ServeSettings], Awaitable[Any]] | None = None
    openapi_extra: dict[str, Any] | None = None  # the request body's documentation when ``read`` parses it


def _raise_item_errors(field: str, results: list[Any]) -> None:
    for i, result in enumerate(results):
        if isinstance(result, InputError):
            raise InputError(f"{field}[{i}]: {result}")


# ---- classification ------------------------------------------------------------------------


def _classify_items(req: schemas.ClassifyRequest, settings: ServeSettings, predictor) -> list[ClassifyItem]:
    check_texts(settings, "texts", req.texts)
    if predictor.kind == "pair_classification":
        if req.text_pairs is None:
            raise InputError("this model classifies pairs of texts: give text_pairs, one per text")
        if len(req.text_pairs) != len(req.texts):
            raise InputError(f"text_pairs has {len(req.text_pairs)} entries but texts has {len(req.texts)}; give one pair per text")
        check_texts(settings, "text_pairs", req.text_pairs)
        return [ClassifyItem(a, b) for a, b in zip(req.texts, req.text_pairs)]
    if req.text_pairs is not None:
        raise InputError(f"this model is a {predictor.kind} model over single texts: leave out text_pairs")
    return [ClassifyItem(t) for t in req.texts]


def _classify_respond(req, results: list[Any]) -> schemas.ClassifyResponse:
    _raise_item_errors("texts", results)
    return schemas.ClassifyResponse(results=[schemas.ClassifyResult(**r) for r in results])


# ---- fill-mask -----------------------------------------------------------------------------


def _fill_mask_items(req: schemas.FillMaskRequest, settings: ServeSettings, predictor) -> list[FillMaskItem]:
    check_texts(settings, "texts", req.texts)
    if req.top_k > settings.max_top_k:
        raise LimitExceeded("max_top_k", settings.max_top_k, req.top_k, "top_k", status=422)
    mask = predictor.tokenizer.special_tokens.mask
    for i, text in enumerate(req.texts):
        if mask not in text:
            raise InputError(f"texts[{i}] has no {mask} token; put {mask} where a word should be predicted")
    return [FillMaskItem(t, req.top_k) for t in req.texts]


def _fill_mask_respond(req, results: list[Any]) -> schemas.FillMaskResponse:
    _raise_item_errors("texts", results)
    return schemas.FillMaskResponse(results=results)


# ---- embeddings ----------------------------------------------------------------------------


def _embed_items(req: schemas.EmbeddingsRequest, settings: ServeSettings, predictor) -> list[EmbedItem]:
    check_texts(settings, "texts", req.texts)
    return [EmbedItem(t, req.normalize) for t in req.texts]


def _embed_respond(req, results: list[Any]) -> schemas.EmbeddingsResponse:
    _raise_item_errors("texts", results)
    return schemas.EmbeddingsResponse(embeddings=results, dimensions=len(results[0]))


# ---- token classification ------------------------------------------------------------------


def _tag_items(req: schemas.TokenClassificationRequest, settings: ServeSettings, predictor) -> list[str]:
    check_texts(settings, "texts", req.texts)
    return list(req.texts)


def _tag_respond(req, results: list[Any]) -> schemas.TokenClassificationResponse:
    _raise_item_errors("texts", results)
    return schemas.TokenClassificationResponse(results=results)


# ---- question answering --------------------------------------------------------------------


def _qa_items(req: schemas.QuestionAnsweringRequest, settings: ServeSettings, predictor) -> list[QAItem]:
    if len(req.questions) != len(req.contexts):
        raise InputError(f"questions has {len(req.questions)} entries but contexts has {len(req.contexts)}; "
                         "give one context per question")
    check_texts(settings, "questions", req.questions)
    check_texts(settings, "contexts", req.contexts)
    return [QAItem(q, c) for q, c in zip(req.questions, req.contexts)]


def _qa_respond(req, results: list[Any]) -> schemas.QuestionAnsweringResponse:
    _raise_item_errors("questions", results)
    return schemas.QuestionAnsweringResponse(results=results)


# ---- image classification ------------------------------------------------------------------


def _image_items(req, settings: ServeSettings, predictor) -> list[Any]:
    from warmstart.serving.images import decode_image

    if len(req.images) > settings.max_images_per_request:
        raise LimitExceeded("max_images_per_request", settings.max_images_per_request, len(req.images), "images")
    return [decode_image(u, settings, predictor.channels, predictor.size) for u in req.images]


def _image_respond(req, results: list[Any]) -> schemas.ImageClassifyResponse:
    return schemas.ImageClassifyResponse(results=[schemas.ImageClassifyResult(**r) for r in results])


async def _read_images(request, settings: ServeSettings):
    from warmstart.serving.images import read_image_request

    return await read_image_request(request, settings)


_IMAGE_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"},
                 "description": "one or more PNG/JPEG files"}}}},
    "application/json": {"schema": schemas.ImageClassifyRequest.model_json_schema()},
}}}

ROUTES: list[Route] = [
    Route("classify", "/v1/classify", "Class probabilities of texts or text pairs (classification, pairs, "
          "regression, multi-label models)", schemas.ClassifyRequest, schemas.ClassifyResponse,
          lambda p: p.kind in SEQUENCE_KINDS, _classify_items, lambda p, items: p.classify(items), _classify_respond),
    Route("fill-mask", "/v1/fill-mask", "Top-k tokens for each mask token (pre-trained models)",
          schemas.FillMaskRequest, schemas.FillMaskResponse, lambda p: p.kind == PRETRAINED,
          _fill_mask_items, lambda p, items: p.fill_mask(items), _fill_mask_respond),
    Route("embeddings", "/v1/embeddings", "Mean-pooled last hidden states (any BERT model)",
          schemas.EmbeddingsRequest, schemas.EmbeddingsResponse,
          lambda p: p.kind in TEXT_KINDS and getattr(p, "has_encoder", False),
          _embed_items, lambda p, items: p.embed(items), _embed_respond),
    Route("token-classification", "/v1/token-classification", "A tag per word, grouped into entities",
          schemas.TokenClassificationRequest, schemas.TokenClassificationResponse,
          lambda p: p.kind == "token_classification", _tag_items, lambda p, items: p.tag(items), _tag_respond),
    Route("question-answering", "/v1/question-answering", "The answer span of each question in its context",
          schemas.QuestionAnsweringRequest, schemas.QuestionAnsweringResponse, lambda p: p.kind == "qa",
          _qa_items, lambda p, items: p.answer(items), _qa_respond),
    Route("classify-image", "/v1/classify-image", "Class probabilities of PNG/JPEG images (multipart upload or "
          "base64 in JSON)", schemas.ImageClassifyRequest, schemas.ImageClassifyResponse,
          lambda p: p.kind == "image_classification", _image_items, lambda p, items: p.classify(items),
          _image_respond, read=_read_images, openapi_extra=_IMAGE_BODY),
]


def routes_for(predictor) -> list[Route]:
    return [route for route in ROUTES if route.serves(predictor)]
