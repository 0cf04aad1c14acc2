"""A bidirectional LSTM encoder behind the same pre-training interface as BERT.

Reference: the recurrent pre-trained encoders that preceded BERT, Peters et al. 2018 (ELMo, "Deep
contextualized word representations") and Howard & Ruder 2018 (ULMFiT). Here the LSTM is trained
with the *same* objectives as BERT (masked LM, optionally NSP), so the two families compare on equal
terms: ``forward`` -> (B, T, H), ``pool`` -> (B, H), ``mlm_logits`` on gathered rows -> (N, V) with
the decoder tied to the word embeddings, ``nsp_logits`` -> (B, 2).

NOTE: the forward direction at position t reads token t itself, so the model "sees" the token it
predicts. That is harmless for masked LM because the chosen tokens are replaced (by [MASK] or a
random token) in the input; it would make a causal LM objective trivial.

Padding is handled with ``pack_padded_sequence``: padding never enters the recurrence, so the
backward direction starts at each row's last real token and outputs at real positions do not depend
on how much padding follows. This requires right padding (real tokens first), which is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from warmstart.config.settings import ModelSettings
from warmstart.errors import InputError
from warmstart.models.onednn import onednn_bf16


def run_lstm(lstm: nn.LSTM, x: torch.Tensor | PackedSequence):
    """``lstm(x)``, in fp32 where bf16 autocast asks for a kernel this CPU does not have.

    NOTE: oneDNN builds a bf16 LSTM only on CPUs with AVX-512 (or ARM's BF16); on an AVX2-only CPU (AMD
    Zen 3, many laptops) bf16 autocast made it fail with "could not create a primitive descriptor for the
    LSTM forward propagation primitive". There the recurrence runs in fp32 inside the autocast region,
    and everything around it stays in bf16 (``onednn_bf16``: torch's own test of oneDNN's bf16 support).
    """
    device = lstm.weight_ih_l0.device
    if device.type != "cpu" or not torch.is_autocast_enabled("cpu") or torch.get_autocast_dtype("cpu") != torch.bfloat16:
        return lstm(x)
    if onednn_bf16():
        return lstm(x)
    with torch.autocast("cpu", enabled=False):
        if isinstance(x, PackedSequence):
            return lstm(x._replace(data=x.data.float()))
        return lstm(x.float())


@dataclass(frozen=True)
class BiLSTMConfig:
    """Shape and regularisation of a BiLSTM encoder."""

    vocab_size: int = 30522
    hidden_size: int = 512  # output width; each direction gets hidden_size // 2
    num_layers: int = 2
    dropout: float = 0.1  # on embeddings, between LSTM layers and on the output
    pad_token_id: int = 0
    type_vocab_size: int = 2  # segment embeddings, so NSP sentence pairs are distinguishable
    # No position embeddings (recurrence orders tokens); kept so data code can read one limit from any
    # encoder, and enforced so the same inputs fail the same way for both families.
    max_position_embeddings: int = 512
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "num_layers", "type_vocab_size", "max_position_embeddings"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"BiLSTMConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % 2 != 0:
            raise InputError(
                f"BiLSTMConfig.hidden_size must be even (two directions of hidden_size // 2), "
                f"got {self.hidden_size}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"BiLSTMConfig.dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise InputError(
                f"BiLSTMConfig.pad_token_id must be a token id in [0, {self.vocab_size}), got {self.pad_token_id}"
            )
        if self.initializer_range <= 0.0:
            raise InputError(f"BiLSTMConfig.initializer_range must be > 0, got {self.initializer_range}")

    @classmethod
    def from_settings(cls, m: ModelSettings, vocab_size: int, pad_id: int, seq_len: int) -> BiLSTMConfig:
        """The config the model settings (``model.*`` keys and flags) ask for, for rows of ``seq_len`` tokens."""
        shape = {k: v for k, v in {"hidden_size": m.hidden_size, "num_layers": m.num_layers, "dropout": m.dropout,
                                   "max_position_embeddings": m.max_position_embeddings}.items() if v is not None}
        return cls(vocab_size=vocab_size, pad_token_id=pad_id, **{"max_position_embeddings": max(seq_len, 512), **shape})


class BiLSTMForPreTraining(nn.Module):
    """Embeddings -> stacked BiLSTM -> (B, T, H), with masked-LM and next-sentence heads."""

    def __init__(self, cfg: BiLSTMConfig) -> None:
        super().__init__()
        self.config = cfg
        H = cfg.hidden_size
        self.word_embeddings = nn.Embedding(cfg.vocab_size, H, padding_idx=cfg.pad_token_id)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, H)
        self.dropout = nn.Dropout(cfg.dropout)
        # Each direction is H/2 wide, so the concatenated output is already H: no projection needed.
        self.lstm = nn.LSTM(
            H, H // 2, num_layers=cfg.num_layers, bidirectional=True, batch_first=True,
            dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
        )
        self.pooler = nn.Linear(H, H)
        self.mlm_transform = nn.Linear(H, H)
        self.mlm_norm = nn.LayerNorm(H)
        self.mlm_bias = nn.Parameter(torch.zeros(cfg.vocab_size))  # output-only bias; weight = embeddings
        self.seq_relationship = nn.Linear(H, 2)
        self._init_weights()

    def _init_weights(self) -> None:
        # Embeddings at BERT's scale keep initial logits near zero, so the MLM loss starts at ~ln(V).
        # The LSTM keeps PyTorch's uniform(-1/sqrt(h), 1/sqrt(h)) initialisation.
        std = self.config.initializer_range
        for emb in (self.word_embeddings, self.token_type_embeddings):
            nn.init.normal_(emb.weight, std=std)
        with torch.no_grad():
            self.word_embeddings.weight[self.config.pad_token_id].zero_()
        for linear in (self.pooler, self.mlm_transform, self.seq_relationship):
            nn.init.normal_(linear.weight, std=std)
            nn.init.zeros_(linear.bias)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hidden states (B, T, H): [forward ; backward] LSTM outputs, zeros at padded positions.

        ``attention_mask`` (B, T) is 1 for real tokens, 0 for padding, and must be right-padded.
        """
        B, T = input_ids.shape
        if T > self.config.max_position_embeddings:
            raise ValueError(
                f"sequence length {T} exceeds max_position_embeddings ({self.config.max_position_embeddings})"
            )
        x = self.word_embeddings(input_ids)  # (B, T, H)
        if token_type_ids is not None:
            x = x + self.token_type_embeddings(token_type_ids)
        else:
            x = x + self.token_type_embeddings.weight[0]
        x = self.dropout(x)
        if attention_mask is None:
            out, _ = run_lstm(self.lstm, x)  # (B, T, H)
            return self.dropout(out)

        lengths = attention_mask.sum(dim=1)  # (B,)
        positions = torch.arange(T, device=input_ids.device)
        if not torch.equal(attention_mask.bool(), positions[None, :] < lengths[:, None]):
            raise ValueError("BiLSTM needs right-padded rows: attention_mask must be 1s followed by 0s")
        if bool((lengths == 0).any()):
            raise ValueError("every row needs at least one real token (attention_mask row of all zeros)")
        # pack_padded_sequence wants lengths on the CPU; this is the one host sync per batch.
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = run_lstm(self.lstm, packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # (B, T, H), zero padding
        return self.dropout(out)

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, T, H) -> (B, H) from position 0 ([CLS]), like BERT.

        The backward half at position 0 has read the whole row, so it summarises the sequence without
        needing the mask; the forward half there has only seen [CLS].
        """
        return torch.tanh(self.pooler(hidden[:, 0]))

    def mlm_logits(self, hidden_selected: torch.Tensor) -> torch.Tensor:
        """(N, H) hidden states at masked positions -> (N, V), decoder tied to the word embeddings."""
        x = self.mlm_norm(F.gelu(self.mlm_transform(hidden_selected)))
        return F.linear(x, self.word_embeddings.weight, self.mlm_bias)

    def nsp_logits(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, H) -> (B, 2); class 0 = B follows A, 1 = B is random (as for BERT)."""
        return self.seq_relationship(pooled)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
