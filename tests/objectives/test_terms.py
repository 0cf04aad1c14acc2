"""Text objectives are composed from terms over one forward pass; a new term plugs in without other changes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

from warmstart.config import SENTENCE_TASKS, ConfigError, ObjectiveSettings
from warmstart.errors import InputError
from warmstart.models.bert import BertConfig, BertForPreTraining
from warmstart.objectives.mlm import MaskedTokens
from warmstart.objectives.terms import Combined, Term, TermSums
from warmstart.objectives.text import SENTENCE_TERMS, sentence_term, text_objective


def _model_and_batch():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ids = torch.randint(5, 60, (4, 20))
    labels = torch.full_like(ids, -100)
    labels[:, 3], labels[2, 12] = ids[:, 3], ids[2, 12]
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids),
             "labels": labels, "next_sentence_label": torch.tensor([0, 1, 1, 0])}
    return BertForPreTraining(config), batch


def test_the_config_choices_are_the_table() -> None:
    assert SENTENCE_TASKS == ("none", *SENTENCE_TERMS)


def test_mlm_plus_nsp_is_the_weighted_sum_of_the_two_means() -> None:
    model, batch = _model_and_batch()
    out = text_objective(ObjectiveSettings(sentence_task="nsp", sentence_weight=0.5))(model, batch)
    hidden = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    selected = batch["labels"] != -100
    mlm = F.cross_entropy(model.mlm_logits(hidden[selected]).float(), batch["labels"][selected])
    nsp = F.cross_entropy(model.nsp_logits(model.pool(hidden)).float(), batch["next_sentence_label"])
    torch.testing.assert_close(out.loss, mlm + 0.5 * nsp)
    assert out.logs["mlm_loss"][1] == 5 and out.logs["nsp_accuracy"][1] == 4  # [sum, count] pairs


def test_a_new_term_plugs_in_and_divides_by_the_global_count() -> None:
    @dataclass(frozen=True)
    class MeanNorm(Term):  # a toy regulariser: the mean norm of the hidden states per real token
        name = "norm"
        count_key = "tokens"

        def count(self, batch):
            return batch["attention_mask"].sum()

        def sums(self, model, hidden, batch):
            norms = hidden.float().norm(dim=-1)[batch["attention_mask"].bool()]
            return TermSums(norms.sum(), torch.zeros(()), torch.tensor(float(norms.numel())))

    model, batch = _model_and_batch()
    objective = Combined(((MaskedTokens(), 1.0), (MeanNorm(), 0.1)))
    assert objective.log_names() == ["mlm_loss", "mlm_accuracy", "norm_loss", "norm_accuracy"]
    counts = objective.counts(batch)
    assert counts == {"mlm": 5, "tokens": 80}
    doubled = {k: 2 * v for k, v in counts.items()}  # as if another process held as many again
    alone, shared = objective(model, batch), objective(model, batch, doubled)
    torch.testing.assert_close(shared.loss, alone.loss / 2)


def test_bad_compositions_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="at least one term"):
        Combined(())
    with pytest.raises(ValueError, match="distinct names"):
        Combined(((MaskedTokens(), 1.0), (MaskedTokens(False), 1.0)))
    with pytest.raises(InputError, match="choose none or one of nsp, sop, contrastive"):
        sentence_term("electra")
    with pytest.raises(ConfigError, match="nothing to train"):
        ObjectiveSettings(mlm=False)
