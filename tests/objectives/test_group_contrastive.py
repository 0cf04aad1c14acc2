"""Group-contrastive pre-training: prepare keeps each document's group, the plan draws pairs of one group,
and a tiny model learns to pair homologs (mutated copies of one sequence) it trains on."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch

from warmstart.config import ConfigError, PrepareJob, TokenizerJob, load_config
from warmstart.data.prepare import prepare
from warmstart.data.shards import open_shards
from warmstart.data.tokenizer_job import run_tokenizer_job
from warmstart.errors import InputError
from warmstart.objectives.contrastive import GroupContrastive, info_nce
from warmstart.tokenization import load_tokenizer
from warmstart.training.batches import GroupPairPlan, batches_of_distinct_groups
from warmstart.training.distributed import DistEnv
from warmstart.training.pretrain import pretrain

RESIDUES = "ACDEFGHIKLMNPQRSTVWY"
TINY = [
    "model.arch=bilstm", "model.preset=null", "model.hidden_size=64", "model.num_layers=1", "model.dropout=0",
    "training.precision=fp32", "training.progress=false", "training.batch_size=16", "training.log_every=5",
    "training.eval_batches=0", "training.eval_batch_size=8", "optimizer.lr=3e-3", "optimizer.warmup=0.05",
    "objective.sentence_task=group_contrastive",
]


def families(groups: int, members: int, seed: int = 0) -> list[dict]:
    """Records {text, cluster}: each cluster holds mutated copies (25% of residues redrawn) of one random
    sequence of a few residues of its own, as homologs share most of a sequence and a family its
    composition; cluster null for a few loners."""
    rng = random.Random(seed)
    records = []
    for g in range(groups):
        own = rng.sample(RESIDUES, 6)
        base = [rng.choice(own) for _ in range(rng.randint(30, 50))]
        for _ in range(members):
            copy = [rng.choice(RESIDUES) if rng.random() < 0.25 else r for r in base]
            records.append({"text": "".join(copy), "cluster": f"c{g}"})
    records += [{"text": "".join(rng.choice(RESIDUES) for _ in range(40)), "cluster": None} for _ in range(3)]
    rng.shuffle(records)
    return records


@pytest.fixture(scope="module")
def protein_tokenizer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("protein-tokenizer")
    run_tokenizer_job(TokenizerJob(output=str(folder), kind="protein"))
    return folder


def prepared(folder, records, tokenizer, **kw):
    corpus = folder / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = folder / "shards"
    prepare(PrepareJob(inputs=[str(corpus)], tokenizer=str(tokenizer), output=str(out), workers=0, layout="document",
                       seq_len=64, alphabet="protein", **{"group_field": "cluster", **kw}), progress=False)
    return out


def test_prepare_keeps_each_documents_group_in_shard_order(tmp_path, protein_tokenizer):
    records = families(6, 3)
    records.append(dict(records[0]))  # a duplicate is dropped with its group
    shards = open_shards(prepared(tmp_path, records, protein_tokenizer, validation=0.5, batch_documents=4))
    tokens = load_tokenizer(protein_tokenizer).tokenizer
    cluster_of = {r["text"]: r["cluster"] for r in records}
    names: dict[int, str] = {}
    clusters_in: dict[str, set] = {}
    for split in ("train", "validation"):
        groups = shards.groups(split)
        assert len(groups) == shards[split].num_documents
        for i, g in enumerate(groups):
            text = "".join(tokens.id_to_token(int(t)) for t in shards[split].document(i))
            want = cluster_of[text]
            assert (g == -1) == (want is None)
            if want is not None:
                assert names.setdefault(int(g), want) == want  # one id per cluster
                clusters_in.setdefault(split, set()).add(want)
    assert clusters_in["train"] and clusters_in["validation"]
    assert not clusters_in["train"] & clusters_in["validation"]  # validation holds whole groups
    info = shards.index["groups"]
    assert info["field"] == "cluster" and sum(s["documents_in_groups"] for s in info["splits"].values()) == 18


def test_a_count_of_validation_documents_takes_whole_groups(tmp_path, protein_tokenizer):
    shards = open_shards(prepared(tmp_path, families(8, 3), protein_tokenizer, validation=5))
    tokens = load_tokenizer(protein_tokenizer).tokenizer
    cluster_of = {r["text"]: r["cluster"] for r in families(8, 3)}
    held = [cluster_of["".join(tokens.id_to_token(int(t)) for t in shards["validation"].document(i))]
            for i in range(shards["validation"].num_documents)]
    grouped = [c for c in held if c is not None]
    assert len(held) >= 5 and all(grouped.count(c) == 3 for c in grouped)  # every member of each held-out cluster
    (tmp_path / "two").mkdir()
    two_clusters = [r for r in families(2, 3) if r["cluster"] is not None]
    with pytest.raises(InputError, match="whole groups"):  # 4 of 6 documents: one cluster is 3, both are all
        prepared(tmp_path / "two", two_clusters, protein_tokenizer, validation=4)


def epoch_pairs(plan: GroupPairPlan, epoch: int) -> list[np.ndarray]:
    return [plan.rows(epoch, b).reshape(-1, 2) for b in range(plan.batches_per_epoch)]


def test_plan_draws_two_documents_of_one_group_and_never_a_group_twice_in_a_batch():
    groups = np.array([0, 0, 0, 1, 1, 2, -1, 3, 3, 3, 3, 4, 5, 5, 6, 6, 7, 7])  # group 2 and 4 have one row
    one = GroupPairPlan(groups, batch_size=4, seed=1, pairs_per_group=1)
    assert one.batches_per_epoch == 6 // 2  # six groups with a pair, two pairs a batch
    every = GroupPairPlan(groups, batch_size=4, seed=1)
    assert every.batches_per_epoch == 7 // 2  # group 3 gives two disjoint pairs
    for plan, most in ((one, 1), (every, 2)):
        for epoch in range(3):
            batches = epoch_pairs(plan, epoch)
            pairs = np.concatenate(batches)
            assert all(groups[a] == groups[b] >= 0 and a != b for a, b in pairs)
            assert len(set(pairs.reshape(-1).tolist())) == pairs.size  # disjoint: no row twice an epoch
            assert all(len({int(groups[a]) for a, _ in b}) == len(b) for b in batches)  # a group once a batch
            assert max(np.bincount(groups[pairs[:, 0]])) <= most
    again = GroupPairPlan(groups, batch_size=4, seed=1)
    assert np.array_equal(again.rows(2, 1), every.rows(2, 1))  # a resumed run draws the same pairs
    assert not all(np.array_equal(every.rows(0, b), every.rows(1, b)) for b in range(3))
    with pytest.raises(InputError, match="even batch size"):
        GroupPairPlan(groups, batch_size=5, seed=0)
    with pytest.raises(InputError, match="fewer than the 8 pairs"):
        GroupPairPlan(groups, batch_size=16, seed=0)


def test_a_large_group_gives_at_most_one_pair_a_batch():
    groups = np.array([0] * 40 + [g for g in range(1, 13) for _ in (0, 1)])  # 20 pairs in group 0, one in 12 others
    plan = GroupPairPlan(groups, batch_size=8, seed=3)
    # k batches of 4 pairs need min(20, k) + 12 * min(1, k) >= 4k: k = 4 (16 >= 16; 17 < 20 for k = 5)
    assert batches_of_distinct_groups(np.array([20] + [1] * 12), 4) == plan.batches_per_epoch == 4
    for epoch in range(2):
        batches = epoch_pairs(plan, epoch)
        assert all(len({int(groups[a]) for a, _ in b}) == 4 for b in batches)
        pairs = np.concatenate(batches)
        assert len(set(pairs.reshape(-1).tolist())) == pairs.size
        assert (groups[pairs[:, 0]] == 0).sum() == 4  # capped at one per batch; the rest wait for other epochs


def test_pairs_are_rows_two_by_two_and_full_rows_need_no_mask():
    torch.manual_seed(0)
    hidden = torch.randn(6, 5, 4)
    term = GroupContrastive(temperature=0.1)
    ids = torch.zeros(6, 5, dtype=torch.long)
    full = term.sums(None, hidden, {"input_ids": ids, "attention_mask": torch.ones(6, 5, dtype=torch.long)})
    bare = term.sums(None, hidden, {"input_ids": ids})  # the collator drops the mask when no row is padded
    assert torch.allclose(full.loss, bare.loss) and float(full.items) == 3 and int(term.count({"input_ids": ids})) == 3
    expected, _ = info_nce(hidden.mean(1)[0::2], hidden.mean(1)[1::2], 0.1)
    assert torch.allclose(full.loss, expected)
    with pytest.raises(ValueError, match="pairs of rows"):
        term.sums(None, hidden[:5], {"input_ids": ids[:5]})


def test_tiny_model_learns_to_pair_homologs(tmp_path, protein_tokenizer):
    shards = prepared(tmp_path, families(40, 4), protein_tokenizer, validation=0.25)
    out = tmp_path / "run"
    summary = pretrain(load_config("pretrain", None, {"shards": str(shards), "output": str(out)},
                                   [*TINY, "budget.steps=100"]))
    train = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in train if r["split"] == "train"]
    # 8 pairs per batch: the loss starts at ln(8), chance, since a fresh encoder pools every row alike
    assert train[0]["group_contrastive_loss"] > math.log(8) - 0.3
    assert np.mean([r["group_contrastive_loss"] for r in train[-3:]]) < train[0]["group_contrastive_loss"] - 1.0
    validation = summary.result.last_validation  # pairs of documents held out (their families are not)
    assert math.isfinite(validation["mlm_loss"]) and validation["group_contrastive_accuracy"] > 0.6
    assert "validation group_contrastive_accuracy" in summary.text()


def test_groups_are_asked_for_with_a_clear_error(tmp_path, protein_tokenizer):
    (tmp_path / "a").mkdir()
    ungrouped = prepared(tmp_path / "a", families(10, 3), protein_tokenizer, group_field=None)
    with pytest.raises(InputError, match="--group-field"):
        pretrain(load_config("pretrain", None, {"shards": str(ungrouped), "output": str(tmp_path / "r1")},
                             [*TINY, "budget.steps=1"]))
    grouped = prepared(tmp_path, families(10, 3), protein_tokenizer, validation=0.2)
    with pytest.raises(InputError, match="micro-batches of 3 rows"):
        pretrain(load_config("pretrain", None, {"shards": str(grouped), "output": str(tmp_path / "r2")},
                             [*TINY, "training.batch_size=6", "training.accumulation=2", "budget.steps=1"]))
    with pytest.raises(InputError, match=r"batch_size \(14\) must be divisible by processes \(4\) x"):
        pretrain(load_config("pretrain", None, {"shards": str(grouped), "output": str(tmp_path / "r3")},
                             [*TINY, "training.batch_size=14", "budget.steps=1"]), env=DistEnv(world_size=4))
    with pytest.raises(ConfigError, match="group_by_length"):
        load_config("pretrain", None, {"shards": "x"}, ["objective.sentence_task=group_contrastive", "group_by_length=true"])
    with pytest.raises(ConfigError, match="--layout document"):
        PrepareJob(inputs=["x"], tokenizer="t", group_field="cluster")
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"text": "MKV", "cluster": "a"}\n{"text": "MKL"}\n')
    with pytest.raises(InputError, match=r"missing.jsonl:2: no group field 'cluster'"):
        prepare(PrepareJob(inputs=[str(missing)], tokenizer=str(protein_tokenizer), output=str(tmp_path / "m"),
                           workers=0, layout="document", alphabet="protein", group_field="cluster"), progress=False)
    fasta = tmp_path / "x.fasta"
    fasta.write_text(">a\nMKV\n")
    with pytest.raises(InputError, match="JSONL, CSV/TSV or parquet"):
        prepare(PrepareJob(inputs=[str(fasta)], tokenizer=str(protein_tokenizer), output=str(tmp_path / "f"),
                           workers=0, layout="document", alphabet="protein", group_field="cluster"), progress=False)


def test_csv_group_column(tmp_path, protein_tokenizer):
    corpus = tmp_path / "corpus.csv"
    corpus.write_text("sequence,family\nMKVL,f1\nMKIL,f1\nGGSA,\n")
    out = tmp_path / "shards"
    prepare(PrepareJob(inputs=[str(corpus)], tokenizer=str(protein_tokenizer), output=str(out), workers=0,
                       layout="document", alphabet="protein", text_field="sequence", group_field="family",
                       validation=0), progress=False)
    assert sorted(open_shards(out).groups("train").tolist()) == [-1, 0, 0]


def test_group_values_follow_one_rule_in_every_format(tmp_path, protein_tokenizer):
    def groups_of(name: str, text: str, **kw) -> list[int]:
        corpus = tmp_path / name
        corpus.write_text(text)
        out = tmp_path / f"shards-{name}"
        prepare(PrepareJob(inputs=[str(corpus)], tokenizer=str(protein_tokenizer), output=str(out), workers=0,
                           layout="document", alphabet="protein", validation=0, **kw), progress=False)
        return open_shards(out).groups("train").tolist()

    # pandas writes an integer column with nulls as floats: 3.0 is group 3, one group with 3, in every format
    assert groups_of("floats.jsonl", '{"text": "MKV", "c": 3.0}\n{"text": "MKL", "c": 3}\n{"text": "MKI", "c": null}\n',
                     group_field="c") == [0, 0, -1]
    assert groups_of("floats.csv", "text,c\nMKV,3.0\nMKL,3\nMKI,\nMKW,3.5\n", group_field="c") == [0, 0, -1, 1]
    with pytest.raises(InputError, match=r"half.jsonl:1: group field 'c' is 2.5 \(float\); write a string or a whole"):
        groups_of("half.jsonl", '{"text": "MKV", "c": 2.5}\n', group_field="c")
    with pytest.raises(InputError, match=r"short.csv:3: row has 1 cells, group column 'family' is #2; leave the cell empty"):
        groups_of("short.csv", "sequence,family\nMKVL,f1\nMKIL\n", text_field="sequence", group_field="family")
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    table = pa.table({"family": [2.0, float("nan"), 2.0], "sequence": ["MKVL", "MKIL", "GGSA"]})  # NaN: no group
    pq.write_table(table, tmp_path / "p.parquet")
    corpus = tmp_path / "p.parquet"
    out = tmp_path / "shards-parquet"
    prepare(PrepareJob(inputs=[str(corpus)], tokenizer=str(protein_tokenizer), output=str(out), workers=0,
                       layout="document", alphabet="protein", validation=0, text_field="sequence",
                       group_field="family"), progress=False)
    shards = open_shards(out)
    tokens = load_tokenizer(protein_tokenizer).tokenizer
    texts = ["".join(tokens.id_to_token(int(t)) for t in shards["train"].document(i)) for i in range(3)]
    assert dict(zip(texts, shards.groups("train").tolist())) == {"MKVL": 0, "MKIL": -1, "GGSA": 0}


def test_a_group_table_that_does_not_match_its_split_is_refused(tmp_path, protein_tokenizer):
    out = prepared(tmp_path, families(4, 3), protein_tokenizer, validation=0)
    info = json.loads((out / "index.json").read_text())["groups"]["splits"]["train"]
    np.save(out / info["file"], np.zeros(2, dtype=np.int64))
    with pytest.raises(InputError, match=r"groups-train.npy: 2 group ids for the train split's 15 documents"):
        open_shards(out, verify=False).groups("train")
