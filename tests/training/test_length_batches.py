"""Pre-training on one document per row: batches of similar lengths, each cut after its longest row."""

import numpy as np
import pytest
import torch

from warmstart.collate import MLMCollator
from warmstart.config import MaskingConfig, PrepareJob, load_config
from warmstart.data.prepare import prepare
from warmstart.data.sequences import DocumentRows
from warmstart.data.shards import open_shards
from warmstart.errors import InputError
from warmstart.masking import MaskingVocab
from warmstart.models.bert import BertConfig, BertForPreTraining
from warmstart.tokenization import load_tokenizer
from warmstart.training.batches import LengthPlan


@pytest.fixture(scope="module")
def rows(tmp_path_factory, corpus_txt, tokenizer_dir):
    out = tmp_path_factory.mktemp("doc") / "shards"
    prepare(PrepareJob(inputs=[str(corpus_txt)], tokenizer=str(tokenizer_dir), output=str(out), workers=0,
                       layout="document", seq_len=64), progress=False)
    shards = open_shards(out)
    s = shards.special_ids
    return DocumentRows(shards["train"], 64, s["cls"], s["sep"], s["pad"])


def test_a_batch_is_cut_after_its_longest_row_and_masks_do_not_depend_on_it(rows, tokenizer_dir):
    lengths = rows.lengths()
    assert [int(rows[i]["attention_mask"].sum()) for i in range(len(rows))] == lengths.tolist()
    distinct = np.unique(lengths[lengths < 48])
    picked = [int(np.flatnonzero(lengths == n)[0]) for n in distinct[[0, len(distinct) // 3, 2 * len(distinct) // 3]]]
    assert len(set(lengths[picked].tolist())) == 3
    tokenizer = load_tokenizer(tokenizer_dir)
    vocab = MaskingVocab.build(tokenizer.vocab_size, tokenizer.mask_id, np.flatnonzero(tokenizer.special_mask))
    collator = MLMCollator(MaskingConfig(), vocab, seed=3)
    batch = collator([rows[i] for i in picked], picked, epoch=0)
    width = -(-int(lengths[picked].max()) // 8) * 8  # rounded up to a multiple of 8 columns
    assert batch["input_ids"].shape == (3, width) == batch["labels"].shape == batch["attention_mask"].shape
    for k, i in enumerate(picked):  # a row's mask is the one it gets alone: drawn on the whole row, then cut
        alone = collator([rows[i]], [i], epoch=0)
        assert torch.equal(alone["input_ids"][0, : lengths[i]], batch["input_ids"][k, : lengths[i]])
        assert torch.equal(alone["labels"][0, : lengths[i]], batch["labels"][k, : lengths[i]])
    # the encoder reads the real tokens the same with or without the padding columns
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                                          num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)).eval()
    padded = {key: torch.nn.functional.pad(batch[key], (0, 64 - width), value=value)
              for key, value in (("input_ids", tokenizer.pad_id), ("attention_mask", 0))}
    with torch.no_grad():
        cut = model(batch["input_ids"], batch["attention_mask"])
        full = model(padded["input_ids"], padded["attention_mask"])
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(cut[real], full[:, :width][real], rtol=1e-5, atol=1e-5)


def test_pre_training_plans_hold_full_batches_of_similar_lengths(rows):
    lengths = rows.lengths()
    plan = LengthPlan(lengths.tolist(), 8, seed=0, full_batches=True)
    assert plan.batches_per_epoch == len(lengths) // 8
    for epoch in range(2):
        batches = [plan.rows(epoch, b) for b in range(plan.batches_per_epoch)]
        assert all(len(b) == 8 for b in batches)  # the short batch is skipped, as BatchPlan skips its tail
        assert len(np.unique(np.concatenate(batches))) == len(batches) * 8
        spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
        assert spread < 0.5 * (lengths.max() - lengths.min())
    assert len(LengthPlan(lengths.tolist(), 8, seed=0).rows(0, 0)) == 8  # fine-tuning keeps the short one too
    with pytest.raises(InputError, match="fewer than one batch"):
        LengthPlan([5, 6, 7], 8, seed=0, full_batches=True)


def test_length_grouping_is_off_by_default_only_for_the_contrastive_task():
    def job(*overrides):
        return load_config("pretrain", None, {"shards": "x"}, list(overrides))

    assert job().grouped_batches and not job("objective.sentence_task=contrastive").grouped_batches
    assert job("objective.sentence_task=contrastive", "group_by_length=true").grouped_batches
    assert not job("group_by_length=false").grouped_batches
