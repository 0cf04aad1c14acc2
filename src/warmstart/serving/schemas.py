"""JSON bodies of `warmstart serve`: what each route accepts and returns, as pydantic models.

Requests are strict (no unknown fields, no silent coercion of numbers to text), so a wrong type is a
422 that names the field, never a surprise prediction. The OpenAPI document at /openapi.json is
generated from these models.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# ---- requests


class ClassifyRequest(_Request):
    texts: list[str] = Field(min_length=1, description="texts to classify", examples=[["The tea was wonderful."]])
    text_pairs: list[str] | None = Field(
        None, description="pair models only: the second text of each pair, as many as texts")


class FillMaskRequest(_Request):
    texts: list[str] = Field(min_length=1, description="texts with one or more mask tokens (e.g. [MASK])",
                             examples=[["The tea was [MASK]."]])
    top_k: int = Field(5, ge=1, description="candidates per mask (at most the server's max_top_k)")


class EmbeddingsRequest(_Request):
    texts: list[str] = Field(min_length=1, examples=[["The tea was wonderful."]])
    normalize: bool = Field(False, description="scale each vector to unit length (cosine similarity = dot product)")


class TokenClassificationRequest(_Request):
    texts: list[str] = Field(min_length=1, description="texts; words are split on whitespace, as in training",
                             examples=[["Fresh bread and bitter coffee"]])


class QuestionAnsweringRequest(_Request):
    questions: list[str] = Field(min_length=1, examples=[["What arrived?"]])
    contexts: list[str] = Field(min_length=1, description="one context per question",
                                examples=[["The coffee arrived fresh."]])


class ImageClassifyRequest(_Request):
    images: list[str] = Field(min_length=1, description="PNG or JPEG files, base64-encoded (a data: URL prefix is "
                              "allowed); or send multipart/form-data with file parts instead of JSON")


# ---- responses


class ClassifyResult(BaseModel):
    label: str | None = Field(None, description="most probable class (classification)")
    score: float | None = Field(None, description="its probability")
    labels: list[str] | None = Field(None, description="classes with probability > 0.5 (multi-label)")
    value: float | None = Field(None, description="the predicted number (regression)")
    probabilities: dict[str, float] | None = None
    truncated: bool = Field(description="the input was cut to the model's max_length")


class ClassifyResponse(BaseModel):
    results: list[ClassifyResult]


class MaskCandidate(BaseModel):
    token: str
    token_id: int
    score: float


class FillMaskResponse(BaseModel):
    results: list[list[list[MaskCandidate]]] = Field(description="per text, per mask (left to right), the top_k")


class EmbeddingsResponse(BaseModel):
    embeddings: list[list[float]]
    dimensions: int


class Entity(BaseModel):
    entity: str
    text: str
    start: int = Field(description="character offset in the text")
    end: int
    score: float = Field(description="mean probability of its words' tags")


class TaggedWord(BaseModel):
    word: str
    start: int
    end: int
    tag: str
    score: float


class TokenClassificationResult(BaseModel):
    entities: list[Entity]
    words: list[TaggedWord]
    truncated: bool


class TokenClassificationResponse(BaseModel):
    results: list[TokenClassificationResult]


class Answer(BaseModel):
    answer: str = Field(description="the span of the context; empty when no valid span was found")
    start: int
    end: int
    score: float = Field(description="P(start) * P(end) in the best window")


class QuestionAnsweringResponse(BaseModel):
    results: list[Answer]


class ImageClassifyResult(BaseModel):
    label: str = Field(description="most probable class")
    score: float = Field(description="its probability")
    probabilities: dict[str, float]


class ImageClassifyResponse(BaseModel):
    results: list[ImageClassifyResult] = Field(description="one per image, in request order")


class ModelInfo(BaseModel):
    model: str
    kind: str
    arch: str
    labels: list[str]
    max_length: int | None = Field(description="tokens per text (text models)")
    long_inputs: str | None = Field(None, description="text models: a text over max_length is 'truncated', or read as "
                                    "overlapping 'windows' whose logits are averaged (models fine-tuned with "
                                    "truncation=windows)")
    embedding_size: int | None
    routes: list[str]
    limits: dict[str, float]
    image: dict[str, int] | None = Field(None, description="image models: channels and size (pixels) the model takes")
    precision: str = Field(description="fp32 or bf16: the dtype of the weights the forward pass runs in")
    compiled: bool = Field(description="the forward pass runs through torch.compile (serve --compile)")


class ErrorBody(BaseModel):
    code: str = Field(description="limit_exceeded | invalid_request | invalid_input | unauthorized | not_found | ...")
    message: str
    limit: str | None = Field(None, description="for limit_exceeded: which limit, e.g. max_texts_per_request")
    maximum: int | None = None
    got: int | None = None
    details: list[dict] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
