"""The BLAST v4 protein database reader, MMseqs2 clustering and search, and the enzyme-class recipe's
cluster split, on small databases built here."""

from __future__ import annotations

import json

import pytest
from protein_families import TERMS, build_database, families

from warmstart.datasets import blastdb, enzymes, mmseqs
from warmstart.datasets.cache import fetch


def test_blastdb_round_trip_and_index(tmp_path):
    entries = [("A|GO:1", "MKT" * 3), ("B" * 200 + "|GO:2", "ACDEFGHIKLMNPQRSTVWYXBZUOJ*"), ("C|", "")]
    blastdb.write(tmp_path / "db", entries)
    assert list(blastdb.records(tmp_path / "db")) == entries  # long titles use BER's long length form
    index = blastdb.Index(tmp_path / "db.pin")
    assert (index.count, index.residues, index.longest) == (3, 9 + 27, 27)


def test_blastdb_errors_name_the_file(tmp_path):
    blastdb.write(tmp_path / "db", [("A", "MKT")])
    with pytest.raises(blastdb.BlastDbError, match=r"other\.pin is missing.*other\.pin, \.phr and \.psq"):
        list(blastdb.records(tmp_path / "other"))
    pin = tmp_path / "db.pin"
    data = bytearray(pin.read_bytes())
    pin.write_bytes(bytes(data[:-4]))
    with pytest.raises(blastdb.BlastDbError, match=r"db\.pin.*truncated"):
        list(blastdb.records(tmp_path / "db"))
    data[3] = 5
    pin.write_bytes(bytes(data))
    with pytest.raises(blastdb.BlastDbError, match="version 5"):
        list(blastdb.records(tmp_path / "db"))
    blastdb.write(tmp_path / "db", [("A", "MKT")])
    (tmp_path / "db.phr").write_bytes(b"\x30\x80" + (tmp_path / "db.phr").read_bytes()[2:].replace(b"\xa0", b"\xa1", 1))
    with pytest.raises(blastdb.BlastDbError, match=r"db\.phr entry 1.*no title"):
        list(blastdb.records(tmp_path / "db"))


def test_enzyme_class_needs_exactly_one_of_six():
    assert enzymes.enzyme_class("Q1|GO:0016829,GO:0046872,GO:0016829") == ("Q1", "lyase")
    assert enzymes.enzyme_class("Q2|GO:0016829,GO:0016874")[1] is None
    assert enzymes.enzyme_class("Q3|GO:0046872")[1] is None


@pytest.mark.slow
def test_mmseqs_clusters_families_and_finds_homologs():
    proteins = families()
    clusters = mmseqs.cluster([(a, s) for a, s, _ in proteins], identity=0.3, ensure_installed=True)
    family = {a: f for a, _, f in proteins}
    # every cluster is one family, and every family is one cluster
    assert {r: {family[m] for m, rr in clusters.items() if rr == r} for r in set(clusters.values())} == \
        {r: {family[r]} for r in set(clusters.values())}
    assert len(set(clusters.values())) == 12
    queries = [(a, s) for a, s, _ in proteins if a.endswith("00")]
    targets = [(a, s) for a, s, _ in proteins if not a.endswith("00")]
    hits = mmseqs.best_hits(queries, targets, ensure_installed=True)
    assert {q: family[t] for q, (t, _, _) in hits.items()} == {q: family[q] for q, _ in queries}
    assert all(0.7 < identity <= 1.0 for _, identity, _ in hits.values())


@pytest.mark.slow
def test_enzyme_recipe_splits_by_cluster(tmp_path, monkeypatch):
    monkeypatch.setenv("WARMSTART_CACHE", str(tmp_path / "cache"))
    proteins = families(n_families=30, members=4)
    build_database(tmp_path, proteins)
    built = enzymes.build(tmp_path, ensure_installed=True, cap={"validation": 100, "test": 100})
    splits = {name: list(rows) for name, rows in built.splits.items()}
    assert sum(len(splits[s]) for s in ("train", "validation", "test")) == len(proteins)  # NOCLASS, TWOCLASS out
    family = {a: f for a, _, f in proteins}
    homes = {}
    for name in ("train", "validation", "test"):
        for p in splits[name]:
            assert p["label"] == enzymes.CLASSES[TERMS[family[p["accession"]] % 6]]
            homes.setdefault(family[p["accession"]], set()).add(name)
    assert all(len(h) == 1 for h in homes.values())  # a family never crosses splits
    assert {p["accession"] for p in splits["corpus"]} == {p["accession"] for p in splits["train"]}
    assert all("label" not in p for p in splits["corpus"])
    strict = enzymes.build_strict(tmp_path, ensure_installed=True, cap={"validation": 100, "test": 100})
    assert [len(list(rows)) for rows in strict.splits.values()] == [len(rows) for rows in splits.values()]
    assert any("0 / 0 of them dropped" in note for note in strict.notes)  # unrelated families: nothing to drop
    # through the cache, from the env var, as the CLI and the demo read it
    monkeypatch.setenv(enzymes.SOURCE_ENV, str(tmp_path))
    folder = fetch("enzyme-class")
    meta = json.loads((folder / "meta.json").read_text())
    assert any("30% identity" in note for note in meta["notes"])
    assert sorted(p.name for p in folder.glob("*.jsonl")) == ["corpus.jsonl", "test.jsonl", "train.jsonl",
                                                              "validation.jsonl"]


@pytest.mark.slow
def test_go_function_is_multilabel_over_the_top_terms(tmp_path, tokenizer_dir):
    from warmstart.config import load_config
    from warmstart.datasets import go_function
    from warmstart.training.finetune import finetune

    proteins = families(n_families=30, members=4)
    build_database(tmp_path, proteins)
    built = go_function.build(tmp_path, ensure_installed=True, cap={"validation": 50, "test": 50})
    splits = {name: list(rows) for name, rows in built.splits.items()}
    expected = {a: sorted(["GO:0005524", TERMS[f % 6]]) for a, _, f in proteins}  # ATP binding + its class
    expected |= {"NOCLASS": ["GO:0005524"], "TWOCLASS": sorted(TERMS[:2])}
    labeled = [p for name in ("train", "validation", "test") for p in splits[name]]
    assert {p["accession"]: p["label"] for p in labeled} == expected
    assert not {p["cluster"] for p in splits["train"]} & {p["cluster"] for p in splits["test"]}
    assert "multilabel" in built.notes[-1]
    # the lists feed the multilabel head as they are
    for name in ("train", "validation"):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(p) + "\n" for p in splits[name]))
    job = load_config("finetune", None, {"task": "multilabel", "train": str(tmp_path / "train.jsonl"),
                                         "validation": str(tmp_path / "validation.jsonl"), "tokenizer": str(tokenizer_dir),
                                         "output": str(tmp_path / "ft"), "epochs": 1.0, "max_length": 64},
                      ["model.preset=tiny", "training.progress=false"])
    summary = finetune(job, progress=False)
    assert set(summary.runs[0].validation) >= {"micro_f1", "hamming_loss"}
    predicted = [json.loads(line) for line in (tmp_path / "ft" / "predictions-validation.jsonl").read_text().splitlines()]
    assert [sorted(r["labels"]) for r in predicted] == [p["label"] for p in splits["validation"]]  # lists read whole


@pytest.mark.slow
def test_homologs_left_across_clusters_are_dropped():
    """A fragment of a training protein clusters apart (coverage below 80%) but is still its homolog."""
    proteins = families(n_families=4, members=3, length=200)
    train = [{"accession": a, "text": s, "label": "x"} for a, s, f in proteins if f < 2]
    fragment = {"accession": "FRAG", "text": proteins[0][1][40:110], "label": "x"}  # 70 of 200 residues
    unrelated = [{"accession": a, "text": s, "label": "x"} for a, s, f in proteins if f >= 2]
    splits, dropped = enzymes.drop_homologs({"corpus": [], "train": train, "validation": [fragment],
                                             "test": unrelated}, ensure_installed=True)
    assert splits["validation"] == [] and dropped == {"validation": 1, "test": 0}
    assert splits["test"] == unrelated and splits["train"] == train
