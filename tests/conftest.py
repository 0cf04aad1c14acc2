"""Shared fixtures: a small real-looking corpus and a tokenizer trained on it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

WORDS = (
    "the a an of to in and is was for on with as by at from that this it be are were "
    "tea coffee cookie chocolate sauce bread flavor taste sweet bitter fresh stale package price "
    "dog cat food treat bag box store order ship arrive great good bad awful love hate buy again "
    "king queen lord lady sword crown night morning love death sleep dream speak hear"
).split()


def make_documents(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        sentences = []
        for _ in range(rng.randint(1, 5)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(3, 14))]
            sentences.append(" ".join(words).capitalize() + rng.choice([".", "!", "?"]))
        docs.append(" ".join(sentences))
    return docs


@pytest.fixture(scope="session")
def documents() -> list[str]:
    return make_documents(400)


@pytest.fixture(scope="session")
def corpus_txt(tmp_path_factory, documents) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n\n".join(documents) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory, documents) -> Path:
    from warmstart.tokenization import TokenizerConfig, save_tokenizer, train_tokenizer

    out = tmp_path_factory.mktemp("tokenizer")
    tok = train_tokenizer(iter(documents), TokenizerConfig(kind="wordpiece", vocab_size=200, min_frequency=1))
    save_tokenizer(tok, out)
    return out
