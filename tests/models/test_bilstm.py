"""BiLSTM encoder: the BERT interface, padding invariance, gradient flow and a tied decoder."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from warmstart.errors import InputError
from warmstart.models import BiLSTMConfig, BiLSTMForPreTraining, PreTrainingModel

VOCAB = 100


def tiny_model(**overrides: object) -> BiLSTMForPreTraining:
    values: dict[str, object] = dict(vocab_size=VOCAB, hidden_size=32, num_layers=2, dropout=0.0,
                                     max_position_embeddings=64)
    values.update(overrides)
    torch.manual_seed(0)
    return BiLSTMForPreTraining(BiLSTMConfig(**values))  # type: ignore[arg-type]


def padded_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    input_ids = torch.randint(1, VOCAB, (3, 10), generator=g)  # (B, T)
    lengths = torch.tensor([10, 7, 3])
    attention_mask = (torch.arange(10)[None, :] < lengths[:, None]).long()
    input_ids = input_ids.masked_fill(attention_mask == 0, 0)
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, 5:] = 1
    return input_ids, attention_mask, token_type_ids


def test_shapes_and_interface() -> None:
    model = tiny_model().eval()
    assert isinstance(model, PreTrainingModel)
    input_ids, attention_mask, token_type_ids = padded_batch()
    hidden = model(input_ids, attention_mask, token_type_ids)
    assert hidden.shape == (3, 10, 32)
    assert model(input_ids).shape == (3, 10, 32)  # no mask: every token is real
    pooled = model.pool(hidden)
    assert pooled.shape == (3, 32)
    assert model.mlm_logits(hidden[attention_mask.bool()]).shape == (20, VOCAB)
    assert model.nsp_logits(pooled).shape == (3, 2)


def test_padding_does_not_change_real_positions() -> None:
    model = tiny_model().eval()
    input_ids, attention_mask, token_type_ids = padded_batch()
    with torch.no_grad():
        hidden = model(input_ids, attention_mask, token_type_ids)
        more_padding = model(
            F.pad(input_ids, (0, 5)), F.pad(attention_mask, (0, 5)), F.pad(token_type_ids, (0, 5))
        )
        torch.testing.assert_close(more_padding[:, :10], hidden)
        assert torch.count_nonzero(more_padding[:, 10:]) == 0
        # Each row matches the same row run alone without any padding.
        for row, length in enumerate(attention_mask.sum(1).tolist()):
            alone = model(input_ids[row : row + 1, :length], None, token_type_ids[row : row + 1, :length])
            torch.testing.assert_close(hidden[row : row + 1, :length], alone)


def test_gradients_reach_every_parameter() -> None:
    model = tiny_model(dropout=0.1).train()
    input_ids, attention_mask, token_type_ids = padded_batch()
    hidden = model(input_ids, attention_mask, token_type_ids)
    labels = input_ids[attention_mask.bool()]
    loss = F.cross_entropy(model.mlm_logits(hidden[attention_mask.bool()]), labels)
    loss = loss + F.cross_entropy(model.nsp_logits(model.pool(hidden)), torch.tensor([0, 1, 0]))
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_decoder_is_tied_to_word_embeddings() -> None:
    model = tiny_model().eval()
    # No separate (V, H) output matrix exists.
    big = [name for name, p in model.named_parameters() if p.shape == (VOCAB, 32)]
    assert big == ["word_embeddings.weight"]
    # A token absent from the input still gets a gradient in the embeddings, through the decoder only.
    input_ids = torch.full((1, 4), 7)
    hidden = model(input_ids)
    model.mlm_logits(hidden[0])[:, 42].sum().backward()
    assert model.word_embeddings.weight.grad[42].abs().sum() > 0


def test_initial_mlm_loss_is_near_uniform() -> None:
    model = tiny_model().eval()
    input_ids = torch.randint(1, VOCAB, (8, 32))
    with torch.no_grad():
        logits = model.mlm_logits(model(input_ids).flatten(0, 1))
    loss = F.cross_entropy(logits, torch.randint(1, VOCAB, (8 * 32,)))
    assert abs(loss.item() - math.log(VOCAB)) < 0.3


def test_bad_inputs_and_configs_raise() -> None:
    model = tiny_model()
    input_ids = torch.randint(1, VOCAB, (2, 6))
    left_padded = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    with pytest.raises(ValueError, match="right-padded"):
        model(input_ids, left_padded)
    with pytest.raises(ValueError, match="at least one real token"):
        model(input_ids, torch.tensor([[0] * 6, [1] * 6]))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(torch.ones(1, 65, dtype=torch.long))
    with pytest.raises(InputError, match="even"):
        BiLSTMConfig(vocab_size=VOCAB, hidden_size=33)
    with pytest.raises(InputError, match="dropout"):
        BiLSTMConfig(vocab_size=VOCAB, dropout=1.5)
