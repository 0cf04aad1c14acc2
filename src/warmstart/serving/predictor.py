"""Predictions for serving, without any HTTP: a model folder in, one batch function per route out.

A ``TextPredictor`` wraps any text checkpoint that ``load_inference_model`` reads (fine-tuned task
models and pre-trained BERTs). Each batch function takes the items of many requests, runs them
through the model together (``evaluation.predict.raw_outputs``; one forward pass per length bucket,
see ``length_buckets``) and returns one result per item, or an ``InputError`` for an item that cannot be
answered, so one bad item never fails its neighbours. Outputs follow the evaluation code: class
probabilities by softmax, multi-label by sigmoid > 0.5, a tag for the first word piece of each word,
and QA spans chosen as in BERT's ``run_squad.py`` (``evaluation.predict.best_span``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from warmstart import checkpoint as ckpt
from warmstart import hardware
from warmstart.data.encoding import qa_feature, qa_windows
from warmstart.errors import InputError
from warmstart.evaluation.evaluate import load_inference_model
from warmstart.evaluation.predict import _softmax, best_span, pool_windows, raw_outputs
from warmstart.models.registry import get_architecture
from warmstart.serving.limits import COMPILE_MODES, PRECISIONS

log = logging.getLogger("warmstart.serve")

PRETRAINED = "masked_lm"  # the kind a pre-trained checkpoint serves as
_WORD = re.compile(r"\S+")  # training splits token-classification text on whitespace (labeled.split_words)


MAX_FORWARD_ROWS = 64  # rows per forward pass in serving (a long text's windows are rows too)


@dataclass(frozen=True)
class ClassifyItem:
    text: str
    text_pair: str | None = None


@dataclass(frozen=True)
class FillMaskItem:
    text: str
    top_k: int = 5


@dataclass(frozen=True)
class EmbedItem:
    text: str
    normalize: bool = False


@dataclass(frozen=True)
class QAItem:
    question: str
    context: str


class TextPredictor:
    """A loaded text model and the batch functions the HTTP routes call (on a worker thread)."""

    def __init__(self, folder: Path, precision: str = "fp32", compile: str = "off") -> None:
        loaded = load_inference_model(Path(folder))
        self.folder = Path(folder)
        if precision not in PRECISIONS:
            raise InputError(f"serve precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.precision = hardware.resolve_precision(precision, "cpu", "serve --precision")  # serving runs on the CPU
        # bf16 weights, not autocast: no per-call casts (measured: MiniLM on 2 cores, 53 vs 50 texts/s
        # on one thread, 99 vs 85 on two; fp32 weights 27 and 45). Outputs come back as fp32 numpy.
        self.dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        self.model = loaded.model.to(self.dtype)
        self._eager = self.model
        self.compile_mode = compile
        if resolve_compile(compile):
            # NOTE: measured with MiniLM in bf16 on 2 cores (bench/serve.py's load, 32 clients): 98 -> 117 req/s.
            # Fused elementwise work and fewer Python-level ops per layer; dynamic shapes, so batches of any
            # size and length share the kernels that ``warm_up`` compiles.
            self.model = torch.compile(self.model, dynamic=True)
        self.arch = loaded.arch
        self.kind = loaded.task or PRETRAINED
        if self.kind == PRETRAINED and not get_architecture(self.arch).fill_mask:
            raise InputError(f"{folder}: a pre-trained {self.arch} checkpoint has no fill-mask head to serve; "
                             "serve a fine-tuned model or a BERT checkpoint")
        self.labels = loaded.labels or []
        self.tokenizer = loaded.tokenizer
        job = loaded.job
        positions = getattr(loaded.config, "max_position_embeddings", None)
        # the length the model was fine-tuned at, else what its position table allows
        if getattr(loaded.config, "position_embedding_type", "absolute") == "rotary":
            positions = None  # rotary positions: no table, no cap
        self.max_length = min(job.max_length, positions or job.max_length) if job is not None else (positions or 512)
        self.doc_stride = job.doc_stride if job is not None else self.max_length // 4
        if self.kind == "qa" and self.doc_stride >= self.max_length - 3:  # [CLS] q [SEP] c [SEP]
            raise InputError(f"{folder}/finetune_job.json: doc_stride={self.doc_stride} leaves no new context per "
                             f"window at max_length={self.max_length}; it must be below max_length - 3")
        # a copy that cuts at max_length, longest text first: the rule encode_classification uses in training;
        # a model fine-tuned with truncation=windows reads a long text as windows overlapping by doc_stride
        self.windows = job is not None and job.truncation == "windows"
        if self.windows and not 0 <= self.doc_stride < self.max_length - 2:
            raise InputError(f"{folder}/finetune_job.json: doc_stride={self.doc_stride} leaves no new tokens per window "
                             f"at max_length={self.max_length}; it must be below max_length - 2")
        self._truncating = self.tokenizer.backend_copy()
        self._truncating.enable_truncation(self.max_length, strategy="longest_first",
                                           stride=self.doc_stride if self.windows else 0)

    def describe(self) -> dict[str, Any]:
        return {"model": self.folder.name, "kind": self.kind, "arch": self.arch, "labels": self.labels,
                "max_length": self.max_length, "long_inputs": "windows" if self.windows else "truncated",
                "embedding_size": self._hidden_size(), "precision": self.precision,
                "compiled": self.compiled}

    @property
    def compiled(self) -> bool:
        return self.model is not self._eager

    def _hidden_size(self) -> int | None:
        return None if self.encoder is None else int(self.encoder.config.hidden_size)

    @property
    def encoder(self):
        """The encoder alone, for embeddings: the submodule a task model names by its ``encoder_prefix``
        (uncompiled; None where the encoder is not one submodule); a pre-training model's forward already is one."""
        if self.kind == PRETRAINED:
            return self.model
        name = getattr(self._eager, "encoder_prefix", "").rstrip(".")
        return getattr(self._eager, name, None) if name else None

    @property
    def has_encoder(self) -> bool:
        return self.encoder is not None

    def warm_up(self) -> None:
        """Forward passes before the first request, so that it does not pay for lazy initialisation, nor
        for compiling: one row, then two rows of different lengths (padded), the two shapes
        ``torch.compile(dynamic=True)`` specialises on. A compiled model that fails is served eagerly
        from then on, with a warning (``compile="auto"``; see ``_forward``); with ``"on"`` it is an error."""
        for texts in (["warm up"], ["warm up", "and a longer text, so that the batch holds padding to warm up"]):
            try:
                self._forward(self.model, self._rows(self._truncating.encode_batch(texts)))
            except Exception as error:
                if not self.compiled:
                    raise
                raise InputError(f"{self.folder}: torch.compile failed ({type(error).__name__}: {error}); serve "
                                 "with --compile off, or install a C++ compiler (TorchInductor builds CPU kernels "
                                 "with it)") from error

    # ---- shared

    def _rows(self, encodings) -> list[dict[str, Any]]:
        return [{"input_ids": e.ids, "token_type_ids": e.type_ids} for e in encodings]

    def _forward(self, model, rows: list[dict[str, Any]]) -> list[Any]:
        """Per-row outputs of one micro-batch, one forward pass per length bucket (``length_buckets``).

        NOTE: a compiled model can fail where the eager one would not (a C++ compiler missing or broken
        for a shape first seen now); under ``compile="auto"`` it is then dropped for the eager model for
        good, with a warning, and the batch is answered, instead of failing every request from then on.
        """
        try:
            return self._buckets(model, rows)
        except Exception as error:
            if model is not self.model or not self.compiled or self.compile_mode == "on":
                raise
            log.warning("the compiled model failed (%s: %s); serving it uncompiled from now on",
                        type(error).__name__, error)
            self.model = self._eager
            return self._buckets(self.model, rows)

    def _buckets(self, model, rows: list[dict[str, Any]]) -> list[Any]:
        outputs: list[Any] = [None] * len(rows)
        for bucket in length_buckets([len(r["input_ids"]) for r in rows]):
            # NOTE: at most MAX_FORWARD_ROWS rows per forward pass: windows of long texts can make many rows
            for i, out in zip(bucket, raw_outputs(model, [rows[i] for i in bucket], self.tokenizer.pad_id,
                                                  batch_size=min(len(bucket), MAX_FORWARD_ROWS))):
                outputs[i] = out
        return outputs

    # ---- routes

    def classify(self, items: Sequence[ClassifyItem]) -> list[dict[str, Any] | InputError]:
        pairs = [it.text if it.text_pair is None else (it.text, it.text_pair) for it in items]
        encodings = self._truncating.encode_batch(pairs)
        # windows: every window of a long single text is a row, pooled per text by evaluation's own rule
        windows = [[e, *e.overflowing] if self.windows and it.text_pair is None else [e] for e, it in zip(encodings, items)]
        rows = [{**row, "example_id": k} for k, group in enumerate(windows) for row in self._rows(group)]
        _, pooled = pool_windows(rows, self._forward(self.model, rows))
        results: list[dict[str, Any] | InputError] = []
        for e, group, logits in zip(encodings, windows, pooled):
            truncated = bool(e.overflowing) and len(group) == 1
            if self.kind == "regression":
                results.append({"value": float(logits[0]), "truncated": truncated})
            elif self.kind == "multilabel":
                probs = 1.0 / (1.0 + np.exp(-logits))
                results.append({"labels": [n for n, p in zip(self.labels, probs) if p > 0.5],
                                "probabilities": {n: float(p) for n, p in zip(self.labels, probs)},
                                "truncated": truncated})
            else:
                probs = _softmax(logits)
                best = int(probs.argmax())
                results.append({"label": self.labels[best], "score": float(probs[best]),
                                "probabilities": {n: float(p) for n, p in zip(self.labels, probs)},
                                "truncated": truncated})
        return results

    @torch.no_grad()
    def fill_mask(self, items: Sequence[FillMaskItem]) -> list[list[list[dict[str, Any]]] | InputError]:
        """Per text, per [MASK] position (left to right), the top-k tokens; special tokens are never proposed."""
        encodings = self._truncating.encode_batch([it.text for it in items])
        hidden = self._forward(self.model, self._rows(encodings))
        never = torch.tensor(np.array(self.tokenizer.special_mask))  # (V,) bool
        results: list[Any] = []
        for item, e, h in zip(items, encodings, hidden):
            positions = [i for i, t in enumerate(e.ids) if t == self.tokenizer.mask_id]
            if not positions:
                results.append([])  # the mask fell beyond max_length (the route checked the text has one)
                continue
            logits = self.model.mlm_logits(torch.from_numpy(h[positions]).to(self.dtype))  # (M, V)
            logits = logits.float()[:, : never.shape[0]].masked_fill(never, float("-inf"))
            probs = logits.softmax(-1)
            top = probs.topk(min(item.top_k, probs.shape[-1]), dim=-1)
            results.append([
                [{"token": self.tokenizer.tokenizer.id_to_token(int(t)), "token_id": int(t), "score": float(p)}
                 for p, t in zip(ps, ts)]
                for ps, ts in zip(top.values, top.indices)
            ])
        return results

    def embed(self, items: Sequence[EmbedItem]) -> list[list[float] | InputError]:
        """Mean of the last hidden states over the text's tokens ([CLS] and [SEP] included, as
        sentence-transformers pools); L2-normalised on request."""
        assert self.encoder is not None, "the route table serves embeddings only from models with an encoder"
        encodings = self._truncating.encode_batch([it.text for it in items])
        results: list[Any] = []
        for item, h in zip(items, self._forward(self.encoder, self._rows(encodings))):
            vector = h.mean(0)
            if item.normalize:
                vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
            results.append([float(x) for x in vector])
        return results

    def tag(self, texts: Sequence[str]) -> list[dict[str, Any] | InputError]:
        """Whitespace words -> one tag each (from the word's first piece) -> BIO spans grouped into entities."""
        words = [[(m.group(), m.start(), m.end()) for m in _WORD.finditer(t)] for t in texts]
        encodings = [self._truncating.encode([w for w, _, _ in ws] or [""], is_pretokenized=True) for ws in words]
        results: list[Any] = []
        for text, ws, e, logits in zip(texts, words, encodings, self._forward(self.model, self._rows(encodings))):
            probs = _softmax(logits)  # (T, L)
            tagged, seen = [], set()
            for position, word in enumerate(e.word_ids):
                if word is None or word in seen or word >= len(ws):
                    continue
                seen.add(word)
                best = int(probs[position].argmax())
                w, start, end = ws[word]
                tagged.append({"word": w, "start": start, "end": end, "tag": self.labels[best],
                               "score": float(probs[position, best])})
            results.append({"entities": group_entities(text, tagged), "words": tagged,
                            "truncated": len(tagged) < len(ws)})
        return results

    def answer(self, items: Sequence[QAItem]) -> list[dict[str, Any] | InputError]:
        """The best answer span of each context (over all its windows), with its probability."""

        features: list[dict[str, Any]] = []
        owner: list[int] = []
        results: list[Any] = [None] * len(items)
        for i, item in enumerate(items):
            try:  # one at a time: a question that leaves no room for its context fails alone
                windows, _ = qa_windows(self.tokenizer, [item.question], [item.context], ["question"],
                                        self.max_length, self.doc_stride)
            except InputError as error:
                results[i] = error
                continue
            for window in windows[0]:
                features.append(qa_feature(window, i))
                owner.append(i)
        outputs = self._forward(self.model, features) if features else []
        for i, item in enumerate(items):
            if results[i] is not None:
                continue
            mine = [k for k, o in enumerate(owner) if o == i]
            span = best_span([features[k] for k in mine], [outputs[k] for k in mine])
            if span is None:
                results[i] = {"answer": "", "start": 0, "end": 0, "score": 0.0}
            else:
                start, end, probability = span
                results[i] = {"answer": item.context[start:end], "start": start, "end": end, "score": probability}
        return results


def group_entities(text: str, tagged: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive words tagged B-X, I-X... -> one entity X (an I-X after another type starts one too);
    a tag without a B-/I- prefix is its own entity type; O is nothing."""
    entities: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for word in tagged:
        tag = word["tag"]
        if tag == "O":
            current = None
            continue
        prefix, _, kind = tag.partition("-") if tag[:2] in ("B-", "I-") else ("", "", tag)
        if current is not None and prefix == "I" and current["entity"] == kind:
            current["end"] = word["end"]
            current["scores"].append(word["score"])
        else:
            current = {"entity": kind, "start": word["start"], "end": word["end"], "scores": [word["score"]]}
            entities.append(current)
    return [{"entity": e["entity"], "text": text[e["start"]:e["end"]], "start": e["start"], "end": e["end"],
             "score": float(np.mean(e["scores"]))} for e in entities]


def length_buckets(lengths: Sequence[int], ratio: float = 0.7, slack: int = 8) -> list[list[int]]:
    """Row indices, longest first, cut where a row is shorter than ``ratio`` x its bucket's longest
    (minus ``slack`` tokens).

    NOTE: on a CPU, compute grows with padded tokens, so padding a batch of real reviews to its longest
    row cost more than the batching saved (measured with MiniLM on 2 cores: 47 ms per text in one
    padded pass, 23 ms in ~3 length buckets, 39 ms one by one). Buckets keep the batching and drop most
    of the padding; a batch of similar lengths stays one pass.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    buckets: list[list[int]] = []
    for i in order:
        if not buckets or lengths[i] < ratio * lengths[buckets[-1][0]] - slack:
            buckets.append([])
        buckets[-1].append(i)
    return buckets


def resolve_compile(mode: str) -> bool:
    """Whether to ``torch.compile`` the model: ``auto`` -> yes where TorchInductor can build its CPU kernels
    (a C++ compiler on PATH), ``on`` / ``off`` as given."""
    if mode not in COMPILE_MODES:
        raise InputError(f"serve compile must be one of {', '.join(COMPILE_MODES)}, got {mode!r}")
    if mode == "auto":
        return hardware.cxx_compiler() is not None
    return mode == "on"


def load_predictor(folder: Path, precision: str = "fp32", compile: str = "off"):
    """The predictor for a model folder, chosen by what its config.json says it is: an image classifier
    (``serving.images.ImagePredictor``, always fp32, never compiled) or any text checkpoint (``TextPredictor``,
    in ``precision``, compiled by ``compile``)."""

    if ckpt.describe(Path(folder)).image_classifier:
        from warmstart.serving.images import ImagePredictor

        return ImagePredictor(Path(folder))
    return TextPredictor(folder, precision, compile)
