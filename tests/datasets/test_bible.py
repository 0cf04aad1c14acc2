"""The Bible data sets: KJV/WEB verse pairs (bible-paraphrase) and chapters for pre-training (bible-text).

Fast tests run the parsing, cleaning and pairing on small inputs written here; the slow ones read
the real Debian SWORD modules with diatheke (installed on demand as root, skipped where apt is not
reachable) and check the properties that make the task honest: 50/50 labels, positives are the same
reference, hard negatives are neighbours, and no verse of a test book in train or in bible-text.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from warmstart.data.labeled import read_records
from warmstart.data.readers import expand_inputs
from warmstart.datasets import DatasetUnavailable, bible, fetch, iter_records, read_meta
from warmstart.datasets import sword
from warmstart.datasets.sword import Verse
from warmstart.datasets.cache import CACHE_ENV
from warmstart.errors import InputError

MARKUP = re.compile(r"<|>|\\|¶|\x00|strong:[GH]\d|&[a-z]+;|\s{2}")
TEST_BOOK_NAMES = {"Ruth", "Eccl", "Jonah", "Nah", "Rom", "Jas", "Phlm"}


def _book(ref: str) -> str:
    return ref.split()[0]


def _chapter_verse(ref: str) -> tuple[str, int, int]:
    book, cv = ref.split()
    chapter, verse = cv.split(":")
    return book, int(chapter), int(verse)


# ---------------------------------------------------------------------------------------------
# Markup and diatheke's dump format


def test_clean_verse_keeps_words_and_drops_markup() -> None:
    kjv = (
        '<q marker=""><w savlm="strong:G3107">Blessed</w> <seg type="x-nested"><transChange type="added">are'
        '</transChange></seg> the poor</q> of the <divineName><w savlm="strong:H3068">LORD</w></divineName>'
        ' \\nd JEHOVAH:<note placement="foot" swordFootnote="1">6.2 the LORD\\+nd*: or, JEHOVAH</note>'
        ' ¶ amen.  <milestone type="line"/>'
    )
    assert sword.clean_verse(kjv) == "Blessed are the poor of the LORD JEHOVAH: amen."
    # A note between two words stood for the space the WEB leaves out; before punctuation, nothing.
    web = '<w>God</w><note placement="foot">1:1 “Elohim”</note><w>created</w> it<note n="a"/>.'
    assert sword.clean_verse(web) == "God created it."
    poetry = 'the waters. <lg sID="a"/><l level="1" sID="b"/>He said,<l eID="b"/><lb type="x-end-paragraph"/>“Go!”'
    assert sword.clean_verse(poetry) == "the waters. He said, “Go!”"
    heading = 'He went. <title type="x-section">The Feast</title>Then <speaker>Beloved</speaker>she sang &amp; danced.'
    assert sword.clean_verse(heading) == "He went. Then she sang & danced."
    # Everything after the book's closing tag is not the verse (the WEB's glossary after Rev 22:21).
    last = (
        'saints. Amen. <chapter eID="Rev.22"/><div eID="g1" type="x-p"/> <div canonical="true" eID="g2" '
        'osisID="Rev" type="book"/> <div sID="g3" type="glossary"/> World English Bible Glossary Abba...'
    )
    assert sword.clean_verse(last) == "saints. Amen."
    assert sword.clean_verse("Whosoever denieth the Son: [but] he that acknowledgeth") == (
        "Whosoever denieth the Son: [but] he that acknowledgeth"
    )


def test_parse_dump_reads_references_and_drops_headings() -> None:
    lines = [
        "Genesis 1:1: In the <w>beginning</w> God created the heaven.",
        '<title canonical="true" type="psalm">A Psalm of David, when he fled.</title> <lg sID="x"/> '
        "Psalms 3:1: LORD, how are they increased!",
        "<title>ALEPH.</title> Psalms 119:1: Blessed are the undefiled.",
        "I John 1:1: That which was from the beginning,",
        "III John 1:14: But I trust I shall shortly see thee.",
        "John 11:35: Jesus wept.",
        "Esther (Greek) 1:1: [In the second year",
        "Song of Solomon 1:2: Let him kiss me",
        "Revelation of John 22:21: The grace. Amen.",
        "Romans 16:25: ",
        "(engKJV2006eb)",
        "",
    ]
    verses = list(sword.parse_dump(lines, "engKJV2006eb"))
    assert [v.ref for v in verses] == [
        "Gen 1:1", "Ps 3:1", "Ps 119:1", "1John 1:1", "3John 1:14", "John 11:35", "EsthGr 1:1", "Song 1:2",
        "Rev 22:21", "Rom 16:25",
    ]  # fmt: skip
    assert verses[1].text == "LORD, how are they increased!" and verses[2].text == "Blessed are the undefiled."
    assert verses[0].text == "In the beginning God created the heaven." and verses[-1].text == ""
    with pytest.raises(ValueError, match=r"line 2: no verse reference"):
        list(sword.parse_dump(["Genesis 1:1: ok", "Hezekiah 1:1: no such book"], "m"))


def test_modules_are_found_by_name_or_abbreviation(tmp_path: Path) -> None:
    (tmp_path / "mods.d").mkdir()
    (tmp_path / "mods.d" / "kjv.conf").write_text("[engKJV2006eb]\nAbbreviation=KJV\n")
    assert sword.find_modules(tmp_path) is None  # no WEB
    (tmp_path / "mods.d" / "web.conf").write_text("# a comment\n[myWEB]\nDescription=x\nAbbreviation=WEB\n")
    assert sword.find_modules(tmp_path) == {"KJV": "engKJV2006eb", "WEB": "myWEB"}


# ---------------------------------------------------------------------------------------------
# Pairs and chapters on a small made-up Bible


def _toy_bibles() -> dict[str, list[Verse]]:
    """Two 'translations' of 4 books x 2 chapters x 8 verses; a few verses missing or odd."""
    bibles: dict[str, list[Verse]] = {"KJV": [], "WEB": []}
    for book in ("Gen", "Ruth", "Matt", "Jas"):
        for chapter in (1, 2):
            for verse in range(1, 9):
                for t in bibles:
                    text = f"{t} words of {book} {chapter} {verse} " + "x" * (verse % 3)
                    bibles[t].append(Verse(book, chapter, verse, text))
    bibles["WEB"][3] = Verse("Gen", 1, 4, "")  # omitted in one translation
    bibles["WEB"][5] = Verse("Gen", 1, 6, "a much longer text " * 10)  # not the same passage
    bibles["KJV"][9] = Verse("Gen", 2, 2, "KJV refrain")  # same text as its neighbour in both
    bibles["KJV"][10] = Verse("Gen", 2, 3, "KJV refrain")
    bibles["KJV"][12] = bibles["WEB"][12] = Verse("Gen", 2, 5, "the same words")  # nothing to paraphrase
    bibles["WEB"].append(Verse("Tob", 1, 1, "only in the WEB"))
    return bibles


def test_pairs_are_balanced_aligned_and_split_by_book() -> None:
    bibles = _toy_bibles()
    splits, notes = bible.paraphrase_splits(bibles, test_books=("Ruth", "Jas"), train_pairs=20, seed=3)
    train, test = splits["train"], splits["test"]
    assert len(train) == 20 and len(test) == 2 * 2 * 2 * 8
    for records in (train, test):
        labels = Counter(r["label"] for r in records)
        assert labels["paraphrase"] == labels["different"] == len(records) // 2
        kinds = Counter(r["kind"] for r in records)
        assert kinds["neighbour"] == kinds["random"] == len(records) // 4
        for r in records:
            assert r["translations"] in ("KJV/WEB", "WEB/KJV")
            first, second = r["translations"].split("/")
            assert r["text"].startswith(first) and r["text_pair"].startswith(second)
            if r["label"] == "paraphrase":
                assert r["ref"] == r["ref_pair"] and r["kind"] == "same"
            else:
                assert r["ref"] != r["ref_pair"] and r["text"] != r["text_pair"]
            if r["kind"] == "neighbour":
                (b1, c1, v1), (b2, c2, v2) = _chapter_verse(r["ref"]), _chapter_verse(r["ref_pair"])
                assert (b1, c1) == (b2, c2) and 1 <= abs(v1 - v2) <= bible.HARD_WINDOW
    assert {_book(r[k]) for r in test for k in ("ref", "ref_pair")} == {"Ruth", "Jas"}
    assert not {_book(r[k]) for r in train for k in ("ref", "ref_pair")} & {"Ruth", "Jas"}
    # skipped and counted: Gen 1:4 (KJV only), Tob 1:1 (WEB only), Gen 1:6 (lengths differ), Gen 2:5 (identical)
    assert "only KJV 1 (Gen 1:4)" in notes[0] and "only WEB 1 (Tob 1:1)" in notes[0]
    assert "lengths differ 1 (Gen 1:6)" in notes[0] and "identical 1 (Gen 2:5)" in notes[0]
    refs = {r["ref"] for r in train + test} | {r["ref_pair"] for r in train + test}
    assert not refs & {"Gen 1:4", "Gen 1:6", "Gen 2:5", "Tob 1:1"}
    # the two refrain verses are never each other's negative
    assert not any({r["ref"], r["ref_pair"]} == {"Gen 2:2", "Gen 2:3"} for r in train)
    # seeded: the same input gives the same pairs
    again, _ = bible.paraphrase_splits(_toy_bibles(), test_books=("Ruth", "Jas"), train_pairs=20, seed=3)
    assert again == splits


def test_sides_and_order_are_coin_flips() -> None:
    aligned, _ = bible.align(_toy_bibles())
    pairs, fallbacks = bible.make_pairs(aligned * 20, aligned, random.Random(0))
    assert fallbacks == 0
    for label in ("paraphrase", "different"):
        records = [r for r in pairs if r["label"] == label]
        assert 0.45 < sum(r["translations"] == "KJV/WEB" for r in records) / len(records) < 0.55


def test_chapter_documents_group_verses_and_leave_out_books() -> None:
    verses = [
        Verse("Gen", 1, 1, "In the beginning."),
        Verse("Gen", 1, 2, "And the earth."),
        Verse("Gen", 2, 1, ""),
        Verse("Gen", 2, 2, "Thus the heavens."),
        Verse("Ruth", 1, 1, "In the days."),
    ]
    docs = list(bible.chapter_documents("KJV", verses, exclude=("Ruth",)))
    assert docs == [
        {"text": "In the beginning.\nAnd the earth.", "translation": "KJV", "book": "Gen",
         "book_name": "Genesis", "chapter": 1, "verses": 2},
        {"text": "Thus the heavens.", "translation": "KJV", "book": "Gen",
         "book_name": "Genesis", "chapter": 2, "verses": 1},
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# dataset:NAME:SPLIT


def test_dataset_split_names_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    folder = (tmp_path / "datasets" / "food-reviews").resolve()
    assert expand_inputs(["dataset:food-reviews"]) == [folder / "train.jsonl"]
    assert expand_inputs(["dataset:food-reviews:test"]) == [folder / "test.jsonl"]
    assert len(read_records("dataset:food-reviews:test", ["text", "label"])) == 1000
    with pytest.raises(InputError, match=r"'food-reviews' has no split 'dev'; its splits: train, test"):
        expand_inputs(["dataset:food-reviews:dev"])
    with pytest.raises(InputError, match="unknown data set 'no-such'"):
        expand_inputs(["dataset:no-such:test"])


# ---------------------------------------------------------------------------------------------
# Errors a user can act on


@pytest.mark.parametrize("name", ["bible-paraphrase", "bible-text"])
def test_missing_source_says_what_to_install(tmp_path: Path, name: str) -> None:
    with pytest.raises(DatasetUnavailable) as err:
        fetch(name, tmp_path / "cache", source=tmp_path / "no-such-source")
    message = str(err.value)
    assert "apt-get install -y sword-text-kjv sword-text-web diatheke" in message
    assert "no-such-source" in message and "source=DIR" in message
    (tmp_path / "empty" / "mods.d").mkdir(parents=True)
    with pytest.raises(DatasetUnavailable, match="no KJV and WEB module confs"):
        fetch(name, tmp_path / "cache", source=tmp_path / "empty")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


# ---------------------------------------------------------------------------------------------
# The real modules (slow: diatheke dumps both Bibles, ~10-20 s per data set on 2 cores)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bible-cache") / "datasets"


def _fetch_or_skip(name: str, cache: Path) -> Path:
    try:
        # as root (CI, a fresh machine) the Debian packages are installed on demand
        return fetch(name, cache, ensure_installed=hasattr(os, "geteuid") and os.geteuid() == 0)
    except DatasetUnavailable as err:  # no apt / no network: say why, do not fail
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def pairs(cache: Path) -> dict[str, list[dict[str, Any]]]:
    folder = _fetch_or_skip("bible-paraphrase", cache)
    return {split: list(iter_records(folder, split)) for split in ("train", "test")}


@pytest.mark.slow
def test_paraphrase_counts_balance_and_references(pairs: dict[str, list[dict[str, Any]]]) -> None:
    train, test = pairs["train"], pairs["test"]
    assert len(train) == 20_000 and len(test) == 1_916  # 958 usable verses of the 7 test books
    for records in (train, test):
        assert Counter(r["label"] for r in records) == {"paraphrase": len(records) // 2, "different": len(records) // 2}
        kinds = Counter(r["kind"] for r in records)
        assert kinds["neighbour"] == kinds["random"] == len(records) // 4
        assert 0.45 < sum(r["translations"] == "KJV/WEB" for r in records) / len(records) < 0.55
        for r in records:
            assert set(r) == {"text", "text_pair", "label", "ref", "ref_pair", "translations", "kind"}
            assert r["text"] and r["text_pair"] and r["text"] != r["text_pair"]
            assert not MARKUP.search(r["text"]) and not MARKUP.search(r["text_pair"]), r
            if r["label"] == "paraphrase":
                assert r["ref"] == r["ref_pair"] and r["kind"] == "same"
            else:
                assert r["ref"] != r["ref_pair"]
            if r["kind"] == "neighbour":
                (b1, c1, v1), (b2, c2, v2) = _chapter_verse(r["ref"]), _chapter_verse(r["ref_pair"])
                assert (b1, c1) == (b2, c2) and 1 <= abs(v1 - v2) <= 3
    assert {_book(r["ref"]) for r in test} == TEST_BOOK_NAMES
    assert {_book(r["ref_pair"]) for r in test} == TEST_BOOK_NAMES
    assert not {_book(r[k]) for r in train for k in ("ref", "ref_pair")} & TEST_BOOK_NAMES
    # one verse, both translations: Ruth 1:16 is in the test split as a positive
    ruth = next(r for r in test if r["ref"] == "Ruth 1:16" and r["label"] == "paraphrase")
    texts = {r for r in (ruth["text"], ruth["text_pair"])}
    assert any("whither thou goest, I will go" in t for t in texts)
    assert any("where you go, I will go" in t for t in texts)
    # skipped references: omitted verses, and Rom 14:23 (the WEB appends Rom 16:25-27 to it)
    refs = {r[k] for r in train + test for k in ("ref", "ref_pair")}
    assert not refs & {"Acts 8:37", "Rom 14:23", "Rom 16:25"}


@pytest.mark.slow
def test_paraphrase_meta_and_test_split_file(cache: Path, pairs: dict[str, list[dict[str, Any]]]) -> None:
    meta = read_meta(cache / "bible-paraphrase", verify=True)
    assert meta is not None and meta["kind"] == "labeled"
    assert meta["files"]["train.jsonl"]["records"] == 20_000 and meta["files"]["test.jsonl"]["records"] == 1_916
    assert "sword-text-kjv" in meta["package"] and "diatheke" in meta["package_version"]
    assert any("only KJV 7 (Luke 17:36, Acts 8:37" in note for note in meta["notes"])
    with pytest.MonkeyPatch.context() as patch:  # what a fine-tuning recipe's `test:` reads
        patch.setenv(CACHE_ENV, str(cache.parent))
        rows = read_records("dataset:bible-paraphrase:test", ["text", "text_pair", "label"])
    assert [dict(r) for r in rows] == [{k: r[k] for k in ("text", "text_pair", "label")} for r in pairs["test"]]


@pytest.mark.slow
def test_bible_text_chapters_without_test_books(cache: Path, pairs: dict[str, list[dict[str, Any]]]) -> None:
    folder = _fetch_or_skip("bible-text", cache)
    docs = list(iter_records(folder))
    by_translation = Counter(d["translation"] for d in docs)
    # KJV: 1,189 chapters less the 45 of the test books; WEB adds the deuterocanon's chapters
    assert by_translation["KJV"] == 1_189 - 45 and by_translation["WEB"] > 1_189
    assert not {d["book"] for d in docs} & TEST_BOOK_NAMES
    genesis = next(d for d in docs if (d["translation"], d["book"], d["chapter"]) == ("KJV", "Gen", 1))
    assert genesis["text"].startswith("In the beginning God created the heaven and the earth.\n")
    assert genesis["verses"] == len(genesis["text"].split("\n")) == 31
    web_genesis = next(d for d in docs if (d["translation"], d["book"], d["chapter"]) == ("WEB", "Gen", 1))
    assert web_genesis["text"].startswith("In the beginning, God created the heavens and the earth.\n")
    revelation = next(d for d in docs if (d["translation"], d["book"], d["chapter"]) == ("WEB", "Rev", 22))
    assert revelation["text"].endswith("The grace of the Lord Jesus Christ be with all the saints. Amen.")
    for d in docs:
        assert not MARKUP.search(d["text"]), (d["translation"], d["book"], d["chapter"])
    # no test verse text in the pre-training corpus (KJV/WEB wording of the test pairs)
    lines = {line for d in docs for line in d["text"].split("\n")}
    test_texts = {t for r in pairs["test"] for t in (r["text"], r["text_pair"])}
    assert len(test_texts & lines) <= 5  # a few verses repeat verbatim elsewhere in the Bible
    meta = read_meta(folder)
    assert any("left out: the bible-paraphrase test books Ruth" in note for note in meta["notes"])


@pytest.mark.slow
def test_second_fetch_is_the_cache(cache: Path) -> None:
    first = _fetch_or_skip("bible-text", cache)
    mtime = (first / "corpus.jsonl").stat().st_mtime_ns
    created = read_meta(first)["created"]
    assert fetch("bible-text", cache) == first
    assert (first / "corpus.jsonl").stat().st_mtime_ns == mtime  # not rebuilt: same file, same meta
    assert read_meta(first)["created"] == created


@pytest.mark.slow
def test_own_sword_library(cache: Path, tmp_path: Path) -> None:
    reference = read_meta(_fetch_or_skip("bible-text", cache))
    library = tmp_path / "sword"
    (library / "mods.d").mkdir(parents=True)
    for module in ("engKJV2006eb", "engWEB2015eb"):
        shutil.copy(sword.SYSTEM_DIR / "mods.d" / f"{module}.conf", library / "mods.d")
        data = Path("modules") / "texts" / "ztext" / module
        shutil.copytree(sword.SYSTEM_DIR / data, library / data)
    folder = fetch("bible-text", tmp_path / "cache", source=library)
    meta = read_meta(folder, verify=True)
    assert meta["package"] == "user files" and meta["source_argument"] == str(library.resolve())
    assert meta["files"]["corpus.jsonl"]["sha256"] == reference["files"]["corpus.jsonl"]["sha256"]
