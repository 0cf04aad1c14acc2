"""Masking statistics over >= 1M tokens, special tokens, whole words, spans and static copies."""

import numpy as np
import pytest
import torch

from warmstart.config import MaskingConfig, PrepareJob
from warmstart.masking import IGNORE_INDEX, MaskingVocab, mask_tokens, select_tokens

VOCAB = 1000
SPECIALS = [0, 1, 2, 3, 4]  # pad, unk, cls, sep, mask
MASK_ID = 4


def vocab(word_start=None):
    return MaskingVocab.build(VOCAB, MASK_ID, SPECIALS, word_start)


def batch(rows=1024, length=1024, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (rows, length), generator=g)
    ids[:, 0] = 2
    ids[:, -1] = 3
    ids[:, -64:-1] = 0  # padding
    return ids


def test_dynamic_masking_statistics_over_a_million_tokens():
    ids = batch()
    config = MaskingConfig()
    corrupted, labels = mask_tokens(ids, config, vocab(), torch.Generator().manual_seed(1))
    special = torch.isin(ids, torch.tensor(SPECIALS))
    selected = labels != IGNORE_INDEX
    assert not (selected & special).any()
    share = selected.sum().item() / (~special).sum().item()
    assert abs(share - 0.15) < 0.002, share
    n = selected.sum().item()
    to_mask = (corrupted == MASK_ID) & selected
    same = (corrupted == ids) & selected
    random = selected & ~to_mask & ~same
    assert abs(to_mask.sum().item() / n - 0.8) < 0.005
    # a random draw can land on the original token (1 in ~995): 'same' absorbs that sliver
    assert abs(random.sum().item() / n - 0.1) < 0.005
    assert abs(same.sum().item() / n - 0.1) < 0.005
    assert torch.equal(corrupted[~selected], ids[~selected])  # unselected tokens untouched
    assert torch.equal(labels[selected], ids[selected])
    assert not torch.isin(corrupted[random], torch.tensor(SPECIALS)).any()


def test_same_generator_seed_same_mask():
    ids = batch(64, 128)
    a = mask_tokens(ids, MaskingConfig(), vocab(), torch.Generator().manual_seed(7))
    b = mask_tokens(ids, MaskingConfig(), vocab(), torch.Generator().manual_seed(7))
    c = mask_tokens(ids, MaskingConfig(), vocab(), torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[1], c[1])


def test_whole_word_masking_takes_whole_words():
    word_start = np.ones(VOCAB, dtype=bool)
    word_start[500:] = False  # ids >= 500 are '##' continuations
    ids = batch(1024, 1024, seed=3)
    config = MaskingConfig(probability=0.15, whole_word=True)
    selected = select_tokens(ids, config, vocab(word_start), torch.Generator().manual_seed(2))
    special = torch.isin(ids, torch.tensor(SPECIALS))
    cont = (ids >= 500) & ~special
    # a continuation is chosen exactly when the token before it (same word) is chosen
    prev_selected = torch.zeros_like(selected)
    prev_selected[:, 1:] = selected[:, :-1]
    prev_special = torch.zeros_like(selected)
    prev_special[:, 1:] = special[:, :-1]
    inside = cont.clone()
    inside[:, 0] = False
    inside &= ~prev_special
    assert torch.equal(selected[inside], prev_selected[inside])
    share = selected.sum().item() / (~special).sum().item()
    assert abs(share - 0.15) < 0.004, share


def test_whole_word_masking_keeps_random_replacement():
    word_start = np.ones(VOCAB, dtype=bool)
    word_start[500:] = False
    ids = batch(256, 512)
    corrupted, labels = mask_tokens(ids, MaskingConfig(whole_word=True), vocab(word_start), torch.Generator().manual_seed(0))
    selected = labels != IGNORE_INDEX
    random = selected & (corrupted != MASK_ID) & (corrupted != ids)
    assert abs(random.sum().item() / selected.sum().item() - 0.1) < 0.02


def test_span_masking_covers_the_share_in_runs():
    ids = batch(1024, 1024, seed=4)
    config = MaskingConfig(probability=0.15, span=True, mean_span=3.0)
    selected = select_tokens(ids, config, vocab(), torch.Generator().manual_seed(5))
    special = torch.isin(ids, torch.tensor(SPECIALS))
    share = selected.sum().item() / (~special).sum().item()
    assert abs(share - 0.15) < 0.01, share
    starts = selected[:, 1:] & ~selected[:, :-1]
    mean_run = selected.sum().item() / max(starts.sum().item(), 1)
    assert mean_run > 2.0, mean_run  # contiguous runs, not isolated tokens


def test_higher_probability_setting():
    ids = batch(256, 1024)
    _, labels = mask_tokens(ids, MaskingConfig(probability=0.4), vocab(), torch.Generator().manual_seed(0))
    special = torch.isin(ids, torch.tensor(SPECIALS))
    assert abs((labels != IGNORE_INDEX).sum().item() / (~special).sum().item() - 0.4) < 0.005


def test_static_masks_written_by_prepare(tmp_path, corpus_txt, tokenizer_dir):
    from warmstart.data.prepare import prepare
    from warmstart.data.sequences import build_rows
    from warmstart.data.shards import open_shards

    out = tmp_path / "shards"
    prepare(PrepareJob(inputs=[str(corpus_txt)], tokenizer=str(tokenizer_dir), output=str(out), workers=0,
                       seq_len=32, static_masks=3), progress=False)
    shards = open_shards(out)
    info = shards.index["static_masks"]
    assert info["copies"] == 3
    rows = build_rows("packed", shards["train"], 32, shards.special_ids)
    original = np.stack([rows[i]["input_ids"] for i in range(len(rows))])
    special = np.isin(original, list(shards.special_ids.values()))
    copies = []
    for entry in info["files"]:
        ids = np.fromfile(out / entry["ids"], dtype=shards.index["dtype"]).reshape(len(rows), 32)
        sel = np.unpackbits(np.fromfile(out / entry["selected"], dtype=np.uint8).reshape(len(rows), -1), axis=1)[:, :32].astype(bool)
        assert not (sel & special).any()
        assert np.array_equal(ids[~sel], original[~sel])
        share = sel.sum() / (~special).sum()
        assert abs(share - 0.15) < 0.02
        assert abs((ids[sel] == shards.special_ids["mask"]).mean() - 0.8) < 0.05
        copies.append(sel)
    assert not np.array_equal(copies[0], copies[1])  # K different masks of the same rows


@pytest.mark.slow
def test_static_mask_statistics_over_a_million_tokens(tmp_path, tokenizer_dir):
    """K stored copies of >= 1M tokens: 15% chosen, 80/10/10, specials never chosen, copies differ."""
    from conftest import make_documents

    from warmstart.data.prepare import prepare
    from warmstart.data.sequences import build_rows
    from warmstart.data.shards import open_shards

    corpus = tmp_path / "big.txt"
    corpus.write_text("\n\n".join(make_documents(45_000, seed=11)) + "\n")
    out = tmp_path / "shards"
    prepare(PrepareJob(inputs=[str(corpus)], tokenizer=str(tokenizer_dir), output=str(out), workers=2,
                       validation=0, seq_len=128, static_masks=2), progress=False)
    shards = open_shards(out)
    rows = build_rows("packed", shards["train"], 128, shards.special_ids)
    original = np.stack([rows[i]["input_ids"] for i in range(len(rows))])
    assert original.size >= 1_000_000
    special = np.isin(original, list(shards.special_ids.values()))
    info = shards.index["static_masks"]
    selections = []
    for entry in info["files"]:
        ids = np.fromfile(out / entry["ids"], dtype=shards.index["dtype"]).reshape(original.shape)
        sel = np.unpackbits(np.fromfile(out / entry["selected"], dtype=np.uint8).reshape(len(rows), -1), axis=1)
        sel = sel[:, :128].astype(bool)
        assert not (sel & special).any()
        assert abs(sel.sum() / (~special).sum() - 0.15) < 0.002
        chosen = sel.sum()
        masked = (ids[sel] == shards.special_ids["mask"]).sum() / chosen
        same = (ids[sel] == original[sel]).sum() / chosen
        assert abs(masked - 0.8) < 0.005 and abs(same - 0.1) < 0.005
        assert np.array_equal(ids[~sel], original[~sel])
        selections.append(sel)
    overlap = (selections[0] & selections[1]).sum() / selections[0].sum()
    assert overlap < 0.2  # independent copies overlap by about the masking rate
