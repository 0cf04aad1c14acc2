"""Shared fixtures: a small real-looking corpus and a tokenizer trained on it."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

# Tests whose path depends on the machine's precision policy (training of every architecture, serving,
# the quick demo). `make test` runs the whole suite, then these again with WARMSTART_NATIVE_BF16=0 and
# oneDNN / ATen held to AVX2: the path an AVX2-only CPU (AMD Zen 3, most laptops) takes, whatever CPU
# the suite runs on.
MACHINE_SENSITIVE = (
    "tests/test_demo.py", "tests/test_hardware.py", "tests/models/", "tests/objectives/",
    "tests/training/test_trainer.py", "tests/training/test_finetune.py", "tests/training/test_pretrain_cli.py",
    "tests/images/test_pretrain.py", "tests/images/test_finetune.py", "tests/images/test_models.py",
    "tests/serving/test_precision.py", "tests/serving/test_routes.py", "tests/serving/test_images.py",
    "tests/serving/test_compile.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        where = Path(str(item.fspath)).relative_to(root).as_posix()
        if where.startswith(MACHINE_SENSITIVE):
            item.add_marker(pytest.mark.machine)


def pytest_report_header(config) -> str:
    from warmstart import hardware

    flags = " ".join(hardware.cpu_flags()) or "none reported"
    return (f"warmstart machine: {hardware.cpu_model()} [{flags}]; native bf16: "
            f"{'yes' if hardware.native_bf16('cpu') else 'no'}; precision auto -> {hardware.resolve_precision('auto', 'cpu')}"
            f"{' (' + hardware.NATIVE_BF16_ENV + '=' + os.environ[hardware.NATIVE_BF16_ENV] + ')' if os.environ.get(hardware.NATIVE_BF16_ENV) else ''}")

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
