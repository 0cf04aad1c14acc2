"""BERT encoder and pre-training heads: the whole forward path in one file.

Reference: Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding" (post-LayerNorm), with the optional pre-LayerNorm block of Geiping & Goldstein 2023,
"Cramming: Training a Language Model on a Single GPU in One Day". Attribute names equal the
Hugging Face ``BertForPreTraining`` state-dict keys, so a post-norm model imports from and exports to
``transformers`` by an identity map of names (proven by ``tests/models/test_bert.py``).

The API gives representations and logits, never losses: ``forward`` returns the last hidden states,
``pool`` the [CLS] summary, ``mlm_logits`` scores only the rows it is handed (gather masked
positions *before* the vocabulary projection, as Cramming and MosaicBERT do) and ``nsp_logits``
scores sentence pairs. Objectives turn these into losses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from warmstart.config.settings import ModelSettings
from warmstart.errors import InputError
from warmstart.models.attention import attend
from warmstart.models.rotary import Rotary

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,  # exact erf form, as in the original BERT and HF's "gelu"
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),  # HF's name for the tanh approximation
    "relu": F.relu,
}

# Turc et al. 2019 ("Well-Read Students Learn Better") and the BERT paper; intermediate = 4 * hidden.
SIZE_PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"num_hidden_layers": 2, "hidden_size": 128, "num_attention_heads": 2},
    "mini": {"num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 4},
    "small": {"num_hidden_layers": 4, "hidden_size": 512, "num_attention_heads": 8},
    "medium": {"num_hidden_layers": 8, "hidden_size": 512, "num_attention_heads": 8},
    "base": {"num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12},
}

# Parameters that are one tensor under two checkpoint names: alias -> source. The MLM decoder reads the
# word embeddings (Press & Wolf 2017 weight tying) and its bias is the head's output-only bias.
TIED_KEYS: dict[str, str] = {
    "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
    "cls.predictions.decoder.bias": "cls.predictions.bias",
}


@dataclass(frozen=True)
class BertConfig:
    """Shape and regularisation of a BERT encoder; field names follow HF's ``config.json``."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02
    pad_token_id: int = 0
    # Pre-LayerNorm blocks (Cramming): x + f(LN(x)) plus a final LayerNorm. Trains more stably at high
    # learning rates, but HF's BertModel is post-norm only, so such a model cannot be exported to it.
    pre_norm: bool = False
    position_embedding_type: str = "absolute"  # absolute (a learned table, BERT) | rotary (ESM-2, RoFormer)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise InputError(
                f"BertConfig.hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads}); e.g. use hidden_size "
                f"{self.num_attention_heads * max(1, round(self.hidden_size / self.num_attention_heads))}"
            )
        if self.position_embedding_type not in ("absolute", "rotary"):
            raise InputError(f"BertConfig.position_embedding_type must be absolute or rotary, got "
                             f"{self.position_embedding_type!r}")
        if self.hidden_act not in ACTIVATIONS:
            raise InputError(f"BertConfig.hidden_act must be one of {sorted(ACTIVATIONS)}, got {self.hidden_act!r}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise InputError(f"BertConfig.{name} must be in [0, 1), got {value}")
        if self.layer_norm_eps <= 0.0:
            raise InputError(f"BertConfig.layer_norm_eps must be > 0, got {self.layer_norm_eps}")
        if self.initializer_range <= 0.0:
            raise InputError(f"BertConfig.initializer_range must be > 0, got {self.initializer_range}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise InputError(
                f"BertConfig.pad_token_id must be a token id in [0, {self.vocab_size}), got {self.pad_token_id}"
            )

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> BertConfig:
        """A named size from ``SIZE_PRESETS`` (intermediate = 4 * hidden); ``overrides`` win."""
        if name not in SIZE_PRESETS:
            raise InputError(f"unknown BERT size preset {name!r}; valid presets: {', '.join(SIZE_PRESETS)}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise InputError(f"unknown BertConfig field(s) {unknown}; valid fields: {sorted(fields)}")
        shape = SIZE_PRESETS[name]
        values: dict[str, Any] = {**shape, "intermediate_size": 4 * shape["hidden_size"]}
        return cls(**{**values, **overrides})

    @classmethod
    def from_settings(cls, m: ModelSettings, vocab_size: int, pad_id: int, seq_len: int) -> BertConfig:
        """The config the model settings (``model.*`` keys and flags) ask for, for rows of ``seq_len`` tokens."""
        shape = {k: v for k, v in {
            "hidden_size": m.hidden_size, "num_hidden_layers": m.num_hidden_layers,
            "num_attention_heads": m.num_attention_heads, "intermediate_size": m.intermediate_size,
            "max_position_embeddings": m.max_position_embeddings, "pre_norm": m.pre_norm,
            "position_embedding_type": m.positions,
        }.items() if v is not None}
        if m.dropout is not None:
            shape["hidden_dropout_prob"] = shape["attention_probs_dropout_prob"] = m.dropout
        try:
            config = (cls.preset(m.preset, vocab_size=vocab_size, pad_token_id=pad_id, **shape) if m.preset
                      else cls(vocab_size=vocab_size, pad_token_id=pad_id, **shape))
        except ValueError as error:
            raise InputError(f"model: {error}") from error
        if config.max_position_embeddings < seq_len and config.position_embedding_type == "absolute":
            raise InputError(
                f"model.max_position_embeddings ({config.max_position_embeddings}) is below the shards' sequence "
                f"length ({seq_len}); raise it or prepare shorter rows"
            )
        return config

    def to_hf_dict(self) -> dict[str, Any]:
        """The Hugging Face ``config.json`` contents for ``transformers.BertForPreTraining``."""
        if self.pre_norm or self.position_embedding_type != "absolute":
            raise InputError(
                "a pre_norm or rotary BERT has no Hugging Face BERT equivalent (HF BertModel is post-LayerNorm with "
                "a position table); export it in warmstart's own format or ONNX, or train without them"
            )
        hf = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "pre_norm"}
        return {
            "model_type": "bert",
            "architectures": ["BertForPreTraining"],
            **hf,
            "position_embedding_type": "absolute",
            "tie_word_embeddings": True,
            "classifier_dropout": None,
            "use_cache": True,
        }

    @classmethod
    def from_hf_dict(cls, d: dict[str, Any]) -> BertConfig:
        """Read a Hugging Face BERT ``config.json`` dict; keys this model has no use for are ignored."""
        if d.get("model_type", "bert") != "bert":
            raise InputError(f"expected a config with model_type 'bert', got {d.get('model_type')!r}")
        if d.get("position_embedding_type", "absolute") != "absolute":
            raise InputError(
                f"only absolute position embeddings are supported, got {d['position_embedding_type']!r}"
            )
        fields = {f.name for f in dataclasses.fields(cls)} - {"pre_norm"}
        # HF writes pad_token_id null for some checkpoints; BERT vocabularies put [PAD] at 0.
        return cls(**{k: v for k, v in d.items() if k in fields and v is not None})


def _init_weights(module: nn.Module, std: float) -> None:
    """HF's BERT scheme: N(0, std) for linear and embedding weights, zero biases, LayerNorm 1/0."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=std)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


# --------------------------------------------------------------------------------------------
# Encoder


class BertEmbeddings(nn.Module):
    """Word + learned absolute position (unless rotary) + segment embeddings, then LayerNorm and dropout."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.position_embeddings = (nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
                                    if cfg.position_embedding_type == "absolute" else None)  # rotary: in attention
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)  # CamelCase: HF checkpoint key
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        seq_len, table = input_ids.shape[1], self.position_embeddings
        x = self.word_embeddings(input_ids)  # (B, T, H)
        if table is not None:
            if seq_len > table.num_embeddings:
                raise ValueError(f"sequence length {seq_len} exceeds max_position_embeddings ({table.num_embeddings}); "
                                 "truncate inputs or build a larger model")
            x = x + table(torch.arange(seq_len, device=input_ids.device))  # (T, H), broadcast over the batch
        if token_type_ids is not None:
            x = x + self.token_type_embeddings(token_type_ids)
        else:
            # Absent segments are all segment 0, as in HF; indexing row 0 skips a (B, T) zeros tensor.
            x = x + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    """Multi-head self-attention (``attend``: written out for short bf16 training rows on CPUs with bf16 units, else SDPA)."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.num_heads = cfg.num_attention_heads
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.value = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.dropout_p = cfg.attention_probs_dropout_prob
        rotary = cfg.position_embedding_type == "rotary"
        self.rotary = Rotary(cfg.hidden_size // cfg.num_attention_heads) if rotary else None

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        """``keep`` is a boolean (B, 1, 1, T) key mask, or None when every token is real."""
        B, T, H = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(B, T, self.num_heads, H // self.num_heads).transpose(1, 2)  # (B, nh, T, hd)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        if self.rotary is not None:
            q, k = self.rotary(q, k)
        out = attend(q, k, v, keep, self.dropout_p if self.training else 0.0)  # (B, nh, T, hd)
        return out.transpose(1, 2).reshape(B, T, H)


class BertSubLayerOutput(nn.Module):
    """Projection, dropout, residual and LayerNorm closing an attention or feed-forward block.

    Post-norm (BERT): ``LN(x + drop(dense(f)))``. Pre-norm (Cramming): the same LayerNorm normalises the
    block's *input* (``normalize_input``) and the residual stays un-normalised: ``x + drop(dense(f))``.
    """

    def __init__(self, in_features: int, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)  # CamelCase: HF checkpoint key
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)
        self.pre_norm = cfg.pre_norm

    def normalize_input(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(x) if self.pre_norm else x

    def forward(self, sublayer_out: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        x = residual + self.dropout(self.dense(sublayer_out))  # (B, T, H)
        return x if self.pre_norm else self.LayerNorm(x)


class BertAttention(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(cfg)  # `self.self`: HF checkpoint key `attention.self.query...`
        self.output = BertSubLayerOutput(cfg.hidden_size, cfg)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        return self.output(self.self(self.output.normalize_input(x), keep), x)


class BertIntermediate(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.act = ACTIVATIONS[cfg.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))  # (B, T, I)


class BertLayer(nn.Module):
    """One transformer block: self-attention, then the position-wise feed-forward network."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.attention = BertAttention(cfg)
        self.intermediate = BertIntermediate(cfg)
        self.output = BertSubLayerOutput(cfg.intermediate_size, cfg)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        x = self.attention(x, keep)
        return self.output(self.intermediate(self.output.normalize_input(x)), x)


class BertEncoder(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(cfg) for _ in range(cfg.num_hidden_layers))
        # Pre-norm leaves the residual stream un-normalised, so it needs one LayerNorm at the end.
        # Not an HF key: only pre-norm models, which cannot be exported to HF anyway, have it.
        self.final_layer_norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps) if cfg.pre_norm else None

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        for layer in self.layer:
            x = layer(x, keep)
        return x if self.final_layer_norm is None else self.final_layer_norm(x)


class BertPooler(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))  # (B, H): the [CLS] position


class BertModel(nn.Module):
    """The encoder: embeddings, transformer layers and (optionally) the [CLS] pooler."""

    def __init__(self, cfg: BertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__()
        self.config = cfg
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(cfg)
        # HF's token-classification and QA models build their BertModel without a pooler, so their
        # checkpoints have no `bert.pooler.*` keys; same option, same name, same keys.
        self.pooler = BertPooler(cfg) if add_pooling_layer else None
        self.apply(lambda m: _init_weights(m, cfg.initializer_range))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Last-layer hidden states (B, T, H) for ``input_ids`` (B, T).

        ``attention_mask`` (B, T) is 1 for real tokens and 0 for padding, which no token attends to.
        Pass None when no row has padding (e.g. packed rows): SDPA then gets no mask and may pick
        its fused kernels.
        NOTE: a row whose mask is all zeros has nothing to attend to and yields NaN.
        """
        keep = None if attention_mask is None else attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T)
        return self.encoder(self.embeddings(input_ids, token_type_ids), keep)

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> (B, H): tanh projection of the [CLS] state, as fed to NSP and classifiers."""
        if self.pooler is None:
            raise ValueError("this BertModel was built with add_pooling_layer=False and has no pooler")
        return self.pooler(hidden)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


# --------------------------------------------------------------------------------------------
# Pre-training heads


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.act = ACTIVATIONS[cfg.hidden_act]
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)  # CamelCase: HF checkpoint key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.act(self.dense(x)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.transform = BertPredictionHeadTransform(cfg)
        # The decoder's weight becomes the word embeddings (BertForPreTraining.tie_weights). Its bias is
        # `self.bias` under a second name: HF checkpoints carry both keys for the one tensor.
        self.decoder = nn.Linear(cfg.hidden_size, cfg.vocab_size)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(x))  # (N, V)


class BertPreTrainingHeads(nn.Module):
    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.predictions = BertLMPredictionHead(cfg)
        self.seq_relationship = nn.Linear(cfg.hidden_size, 2)


class BertForPreTraining(nn.Module):
    """Encoder plus masked-LM and next-sentence heads; state-dict keys equal HF's ``BertForPreTraining``."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.config = cfg
        self.bert = BertModel(cfg)
        self.cls = BertPreTrainingHeads(cfg)
        self.cls.apply(lambda m: _init_weights(m, cfg.initializer_range))
        self.tie_weights()
        # Checkpoints may hold a tied tensor under one name only (HF's save_pretrained and safetensors'
        # save_model drop the decoder aliases); fill the other in before a strict load, and re-tie
        # afterwards in case `assign=True` swapped tensors.
        # NOTE: load such files with `load_state_dict(safetensors.torch.load_file(path))`.
        # `safetensors.torch.load_model` does its own alias bookkeeping and, strict, reports the aliases
        # filled here as unexpected.
        self.register_load_state_dict_pre_hook(_fill_tied_keys)
        self.register_load_state_dict_post_hook(_retie_after_load)

    def tie_weights(self) -> None:
        """Make the MLM decoder share storage with the word embeddings and the head's bias."""
        predictions = self.cls.predictions
        predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight
        predictions.decoder.bias = predictions.bias

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Last-layer hidden states (B, T, H); see ``BertModel.forward``."""
        return self.bert(input_ids, attention_mask, token_type_ids)

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> (B, H) [CLS] summary."""
        return self.bert.pool(hidden)

    def mlm_logits(self, hidden_selected: torch.Tensor) -> torch.Tensor:
        """(N, H) hidden states gathered at the masked positions -> (N, V) vocabulary logits.

        Gathering first skips the (T, V) projection for the ~85% of positions that carry no label.
        """
        return self.cls.predictions(hidden_selected)

    def nsp_logits(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, H) pooled output -> (B, 2); class 0 = B follows A, 1 = B is random (HF convention)."""
        return self.cls.seq_relationship(pooled)

    def num_parameters(self) -> int:
        """Distinct parameters: the tied decoder is counted once, as the embeddings."""
        return sum(p.numel() for p in self.parameters())


# Load hooks are module-level functions, not lambdas, so the model stays picklable.
def _fill_tied_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *_args: Any) -> None:
    for alias, source in TIED_KEYS.items():
        alias, source = prefix + alias, prefix + source
        if alias not in state_dict and source in state_dict:
            state_dict[alias] = state_dict[source]
        elif source not in state_dict and alias in state_dict:
            state_dict[source] = state_dict[alias]


def _retie_after_load(module: nn.Module, _incompatible_keys: Any) -> None:
    assert isinstance(module, BertForPreTraining)
    module.tie_weights()
