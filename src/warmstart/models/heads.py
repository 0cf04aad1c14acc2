"""Fine-tuning task models: a pre-trained encoder plus a small task head, and how to warm-start them.

Reference: Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding", section 3.2 (one linear layer on the pooled [CLS] state for sentence tasks, on every
token for tagging, a start/end scorer for extractive QA). The BERT task models mirror Hugging Face's
``BertForSequenceClassification``, ``BertForTokenClassification`` and ``BertForQuestionAnswering``:
attribute names equal their state-dict keys, so export is an identity map (proven by
``tests/models/test_heads.py``). ``BiLSTMForSequenceClassification`` gives the recurrent encoder the
same forward signature, so the fine-tuning trainer does not care which family it trains.

Like the encoders, task models return logits, never losses: the objective picks the loss from the task
(cross-entropy, MSE for regression, BCE for multi-label). ``load_encoder_weights`` copies a pre-trained
encoder into a fresh task model and names what stays freshly initialised; ``freeze`` implements the
usual partial fine-tuning policies up to a linear probe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch
from torch import nn

from warmstart.config.finetune_job import FREEZE_POLICIES
from warmstart.errors import InputError
from warmstart.models.bert import BertConfig, BertModel, _init_weights
from warmstart.models.bilstm import BiLSTMConfig, BiLSTMForPreTraining


# The `problem_type` HF's config records for the sequence-level tasks (it picks the loss from it).
HF_PROBLEM_TYPES: dict[str, str] = {
    "classification": "single_label_classification",
    "pair_classification": "single_label_classification",
    "regression": "regression",
    "multilabel": "multi_label_classification",
}



class SpanLogits(NamedTuple):
    """Extractive-QA scores for every token being the answer's first or last token."""

    start_logits: torch.Tensor  # (B, T)
    end_logits: torch.Tensor  # (B, T)


@dataclass
class EncoderGroups:
    """An encoder's parameters by depth, for freezing: embeddings, one list per layer, pooler."""

    embeddings: list[nn.Parameter]
    layers: list[list[nn.Parameter]]  # bottom (closest to the embeddings) first
    pooler: list[nn.Parameter]


# --------------------------------------------------------------------------------------------
# BERT task models


class _BertTaskModel(nn.Module):
    """What the three BERT task models share: `.bert`, a head, and the hooks warm-starting needs."""

    encoder_prefix: ClassVar[str] = "bert."  # where the encoder's keys live in this model's state dict
    head_names: ClassVar[tuple[str, ...]]  # attributes that make up the task head
    # Source keys that belong to pre-training only; BERT's (`cls.*`) live outside `bert.` already.
    pretraining_only: ClassVar[tuple[str, ...]] = ()

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's last hidden states (B, T, H), without the head (features for linear probes)."""
        return self.bert(input_ids, attention_mask)

    def encoder_groups(self) -> EncoderGroups:
        bert: BertModel = self.bert  # type: ignore[assignment]
        layers = [list(layer.parameters()) for layer in bert.encoder.layer]
        # NOTE: a pre-norm encoder's final LayerNorm sits above every layer: it counts as the top layer's,
        # so "bottom" never freezes it unless all layers are frozen.
        if bert.encoder.final_layer_norm is not None and layers:
            layers[-1] += list(bert.encoder.final_layer_norm.parameters())
        pooler = [] if bert.pooler is None else list(bert.pooler.parameters())
        return EncoderGroups(list(bert.embeddings.parameters()), layers, pooler)


class BertForSequenceClassification(_BertTaskModel):
    """Pooled [CLS] -> dropout -> linear: classification, sentence pairs, regression, multi-label."""

    head_names = ("classifier",)

    def __init__(self, cfg: BertConfig, num_labels: int, classifier_dropout: float | None = None) -> None:
        super().__init__()
        _check_num_labels(num_labels)
        self.config = cfg
        self.num_labels = num_labels
        self.bert = BertModel(cfg)
        # HF: classifier_dropout, when unset, falls back to the encoder's hidden dropout.
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob if classifier_dropout is None else classifier_dropout)
        self.classifier = nn.Linear(cfg.hidden_size, num_labels)
        _init_weights(self.classifier, cfg.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, num_labels); for regression (num_labels 1) the prediction itself."""
        hidden = self.bert(input_ids, attention_mask, token_type_ids)  # (B, T, H)
        return self.classifier(self.dropout(self.bert.pool(hidden)))


class BertForTokenClassification(_BertTaskModel):
    """Every token's hidden state -> dropout -> linear, for tagging (NER, POS)."""

    head_names = ("classifier",)

    def __init__(self, cfg: BertConfig, num_labels: int, classifier_dropout: float | None = None) -> None:
        super().__init__()
        _check_num_labels(num_labels)
        self.config = cfg
        self.num_labels = num_labels
        self.bert = BertModel(cfg, add_pooling_layer=False)  # HF's has no pooler, hence no pooler keys
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob if classifier_dropout is None else classifier_dropout)
        self.classifier = nn.Linear(cfg.hidden_size, num_labels)
        _init_weights(self.classifier, cfg.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, T, num_labels), padded positions included (the objective masks them by label -100)."""
        hidden = self.bert(input_ids, attention_mask, token_type_ids)  # (B, T, H)
        return self.classifier(self.dropout(hidden))


class BertForQuestionAnswering(_BertTaskModel):
    """Every token's hidden state -> linear (H, 2): the answer span's start and end scores."""

    head_names = ("qa_outputs",)

    def __init__(self, cfg: BertConfig, num_labels: int = 2) -> None:
        super().__init__()
        if num_labels != 2:
            raise InputError(f"question answering scores start and end, so num_labels must be 2, got {num_labels}")
        self.config = cfg
        self.num_labels = num_labels
        self.bert = BertModel(cfg, add_pooling_layer=False)  # HF's has no pooler, hence no pooler keys
        self.qa_outputs = nn.Linear(cfg.hidden_size, 2)  # no dropout before it, as in HF
        _init_weights(self.qa_outputs, cfg.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> SpanLogits:
        hidden = self.bert(input_ids, attention_mask, token_type_ids)  # (B, T, H)
        start, end = self.qa_outputs(hidden).unbind(dim=-1)  # two (B, T)
        return SpanLogits(start.contiguous(), end.contiguous())


# --------------------------------------------------------------------------------------------
# BiLSTM task model


class BiLSTMForSequenceClassification(nn.Module):
    """The BiLSTM encoder, its pooled position-0 state -> dropout -> linear. No HF counterpart.

    Encoder attribute names equal ``BiLSTMForPreTraining``'s, so warm-starting copies keys as they are.
    """

    encoder_prefix: ClassVar[str] = ""
    head_names: ClassVar[tuple[str, ...]] = ("classifier",)
    pretraining_only: ClassVar[tuple[str, ...]] = ("mlm_transform.", "mlm_norm.", "mlm_bias", "seq_relationship.")

    def __init__(self, cfg: BiLSTMConfig, num_labels: int) -> None:
        super().__init__()
        _check_num_labels(num_labels)
        self.config = cfg
        self.num_labels = num_labels
        H = cfg.hidden_size
        self.word_embeddings = nn.Embedding(cfg.vocab_size, H, padding_idx=cfg.pad_token_id)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, H)
        self.dropout = nn.Dropout(cfg.dropout)
        self.lstm = nn.LSTM(
            H, H // 2, num_layers=cfg.num_layers, bidirectional=True, batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )
        self.pooler = nn.Linear(H, H)
        self.classifier = nn.Linear(H, num_labels)
        # Same scheme as BiLSTMForPreTraining: BERT-scale embeddings and linears, PyTorch's LSTM init.
        for emb in (self.word_embeddings, self.token_type_embeddings):
            nn.init.normal_(emb.weight, std=cfg.initializer_range)
        with torch.no_grad():
            self.word_embeddings.weight[cfg.pad_token_id].zero_()
        for linear in (self.pooler, self.classifier):
            _init_weights(linear, cfg.initializer_range)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, num_labels); ``attention_mask`` must be right-padded (see ``BiLSTMForPreTraining``)."""
        # NOTE: the encoder's forward and pool are borrowed from BiLSTMForPreTraining as plain functions:
        # they read only `config`, the embeddings, `dropout`, `lstm` and `pooler`, which this class has
        # under the same names. One copy of the packing logic, and no unused MLM parameters here.
        hidden = BiLSTMForPreTraining.forward(self, input_ids, attention_mask, token_type_ids)  # type: ignore[arg-type]
        pooled = BiLSTMForPreTraining.pool(self, hidden)  # type: ignore[arg-type]  # (B, H)
        return self.classifier(self.dropout(pooled))

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's hidden states (B, T, H), without the head (features for linear probes)."""
        return BiLSTMForPreTraining.forward(self, input_ids, attention_mask)  # type: ignore[arg-type]

    def encoder_groups(self) -> EncoderGroups:
        # nn.LSTM keeps every layer in one module; its parameter names end in `_l{i}` or `_l{i}_reverse`.
        layers: list[list[nn.Parameter]] = [[] for _ in range(self.config.num_layers)]
        for name, param in self.lstm.named_parameters():
            match = re.search(r"_l(\d+)(_reverse)?$", name)
            assert match is not None, name
            layers[int(match.group(1))].append(param)
        embeddings = [self.word_embeddings.weight, self.token_type_embeddings.weight]
        return EncoderGroups(embeddings, layers, list(self.pooler.parameters()))


def _check_num_labels(num_labels: int) -> None:
    if not isinstance(num_labels, int) or num_labels < 1:
        raise InputError(f"num_labels must be a positive integer, got {num_labels!r}")


# --------------------------------------------------------------------------------------------
# Warm-starting


def load_encoder_weights(task_model: nn.Module, state_dict: dict[str, torch.Tensor]) -> list[str]:
    """Copy a pre-trained encoder into ``task_model``; return the names left freshly initialised.

    ``state_dict`` is either a pre-training checkpoint (``BertForPreTraining``: encoder under ``bert.``,
    heads such as ``cls.*`` ignored) or a bare encoder (HF ``BertModel``, e.g. a sentence-transformers
    ``model.safetensors``, keys like ``embeddings.word_embeddings.weight``); the form is detected from
    the keys. The pooler is copied when both sides have one; when only the task model has one it stays
    fresh and is returned with the head. Raises ValueError naming missing keys, shape mismatches and
    encoder keys the task model lacks (e.g. a deeper encoder), before changing any weight.
    """
    prefix: str = task_model.encoder_prefix  # type: ignore[assignment]
    heads: tuple[str, ...] = task_model.head_names  # type: ignore[assignment]
    target = task_model.state_dict()
    head_keys = [k for k in target if k.split(".", 1)[0] in heads]
    # Encoder keys without the prefix, i.e. as a bare encoder names them.
    encoder_keys = [k[len(prefix):] for k in target if k not in head_keys]

    if prefix and any(k.startswith(prefix) for k in state_dict):
        source = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    else:
        source = dict(state_dict)
    pretraining_only: tuple[str, ...] = task_model.pretraining_only  # type: ignore[assignment]
    # `position_ids` is a buffer older transformers versions saved (MiniLM's file has it); it is arange(T).
    source = {
        k: v for k, v in source.items()
        if not k.startswith(pretraining_only) and not k.endswith("position_ids")
    }

    pooler_keys = [k for k in encoder_keys if k.startswith("pooler.")]
    fresh_pooler = bool(pooler_keys) and not any(k in source for k in pooler_keys)
    required = [k for k in encoder_keys if not (fresh_pooler and k in pooler_keys)]

    missing = [k for k in required if k not in source]
    mismatched = [
        f"{k}: checkpoint {tuple(source[k].shape)} vs model {tuple(target[prefix + k].shape)}"
        for k in required
        if k in source and source[k].shape != target[prefix + k].shape
    ]
    # The source's pooler is simply unused by a task model without one (token classification, QA).
    unexpected = [k for k in source if k not in encoder_keys and not k.startswith("pooler.")]
    problems = []
    if missing:
        problems.append(f"missing encoder keys {_abbreviate(missing)}")
    if mismatched:
        problems.append(f"shape mismatches {_abbreviate(mismatched)} (is the encoder config the checkpoint's?)")
    if unexpected:
        problems.append(f"encoder keys the task model lacks {_abbreviate(unexpected)} (a deeper or different encoder?)")
    if problems:
        raise InputError(f"cannot load encoder weights into {type(task_model).__name__}: " + "; ".join(problems))

    merged = dict(target)
    merged.update({prefix + k: source[k] for k in required})
    task_model.load_state_dict(merged, strict=True)  # copies in place, casting dtype (e.g. fp16 files)
    fresh = head_keys + ([prefix + k for k in pooler_keys] if fresh_pooler else [])
    return sorted(fresh)


def _abbreviate(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return f"[{shown}, ... {len(items) - limit} more]" if len(items) > limit else f"[{shown}]"


# --------------------------------------------------------------------------------------------
# Freezing


def freeze(model: nn.Module, policy: str, k: int = 0) -> int:
    """Set ``requires_grad`` by ``policy``; return how many parameter elements will train.

    "none" trains everything; "embeddings" freezes the embeddings; "bottom" freezes the embeddings and
    the ``k`` encoder layers nearest them; "head_only" is a linear probe: only the task head trains
    (the pooler stays frozen too). Each call starts from all-trainable, so policies do not accumulate.
    """
    if policy not in FREEZE_POLICIES:
        raise InputError(f"unknown freeze policy {policy!r}; valid policies: {', '.join(FREEZE_POLICIES)}")
    groups: EncoderGroups = model.encoder_groups()  # type: ignore[operator]
    if policy == "bottom" and not (isinstance(k, int) and 0 <= k <= len(groups.layers)):
        raise InputError(f"freeze policy 'bottom' needs 0 <= k <= {len(groups.layers)} (encoder layers), got {k!r}")

    for param in model.parameters():
        param.requires_grad_(True)
    frozen: list[nn.Parameter] = []
    if policy in ("embeddings", "bottom"):
        frozen = groups.embeddings + [p for layer in groups.layers[: k if policy == "bottom" else 0] for p in layer]
    elif policy == "head_only":
        heads: tuple[str, ...] = model.head_names  # type: ignore[assignment]
        head_params = {id(p) for name in heads for p in getattr(model, name).parameters()}
        frozen = [p for p in model.parameters() if id(p) not in head_params]
    for param in frozen:
        param.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
