"""Protein and DNA sequences as corpora: FASTA reading, the alphabet check, fixed tokenizers, and a
pre-training run on residues through the one text pipeline."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from warmstart.cli import main
from warmstart.config import PrepareJob, TokenizerJob
from warmstart.data.prepare import prepare
from warmstart.data.readers import ReadStats, iter_documents
from warmstart.data.tokenizer_job import run_tokenizer_job
from warmstart.errors import InputError
from warmstart.tokenization import load_tokenizer

PROTEINS = """>sp|P1|ONE first protein
MKTAYIAKQR
QISFVKSHFS*
; a comment line
>sp|P2|TWO
mkvlaagiv
>sp|P3|THREE with a strange residue
MKJLA
"""


def write(path: Path, text: str) -> str:
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("name", ["p.fasta", "p.faa.gz"])
def test_records_are_joined_upper_cased_and_checked(tmp_path, name):
    stats = ReadStats()
    docs = list(iter_documents([write(tmp_path / name, PROTEINS)], stats=stats, alphabet="protein"))
    assert [d.text for d in docs] == ["MKTAYIAKQRQISFVKSHFS", "MKVLAAGIV", "MKXLA"]  # stop dropped, J -> X
    assert [d.line for d in docs] == [1, 5, 7] and stats.unknown_symbols == 1
    with pytest.raises(InputError, match=r"p\..*line 7.*'J' are not in the protein alphabet.*unknown_symbols=map"):
        list(iter_documents([str(tmp_path / name)], alphabet="protein", unknown_symbols="error"))


def test_bad_fasta_is_named_by_file_and_line(tmp_path):
    with pytest.raises(InputError, match=r"x\.fa: line 1: not FASTA"):
        list(iter_documents([write(tmp_path / "x.fa", "ACGT\n>late header\nACGT\n")]))
    with pytest.raises(InputError, match=r"e\.fna: line 3: the record '>empty' has no sequence"):
        list(iter_documents([write(tmp_path / "e.fna", ">ok\nACGT\n>empty\n>next\nAC\n")], alphabet="dna"))
    dna = list(iter_documents([write(tmp_path / "d.fna", ">a\nACGUX\n")], alphabet="dna"))
    assert dna[0].text == "ACGNN"


@pytest.mark.parametrize("alphabet, sequence, tokens", [
    ("protein", "MKV", ["[CLS]", "M", "K", "V", "[SEP]"]),
    ("dna", "ACGTN", ["[CLS]", "A", "C", "G", "T", "N", "[SEP]"]),
])
def test_fixed_tokenizers_load_in_transformers(tmp_path, alphabet, sequence, tokens):
    transformers = pytest.importorskip("transformers")
    out = tmp_path / alphabet
    result = run_tokenizer_job(TokenizerJob(kind=alphabet, output=str(out)))
    assert result.kind == alphabet and "fixed alphabet" in " ".join(result.lines())
    ours = load_tokenizer(out)
    assert ours.vocab_size == 5 + {"protein": 25, "dna": 5}[alphabet] and ours.kind == "char"
    hf = transformers.AutoTokenizer.from_pretrained(str(out))
    assert hf.convert_ids_to_tokens(hf(sequence)["input_ids"]) == tokens
    assert hf(sequence)["input_ids"] == ours.tokenizer.encode(sequence).ids


def test_proteins_pre_train_through_the_text_pipeline(tmp_path):
    import random

    rng = random.Random(0)
    fasta = "".join(f">p{i}\n" + "".join(rng.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(rng.randint(40, 90))) + "\n"
                    for i in range(60))
    corpus = write(tmp_path / "proteins.fasta", fasta)
    assert main(["tokenizer", "--kind", "protein", "-o", str(tmp_path / "tok")]) == 0
    summary = prepare(PrepareJob(inputs=[corpus], tokenizer=str(tmp_path / "tok"), output=str(tmp_path / "shards"),
                                 workers=0, seq_len=64, validation=4, alphabet="protein"), progress=False)
    assert summary.train_documents == 56 and summary.unk_share == 0
    assert main(["pretrain", "--shards", str(tmp_path / "shards"), "-o", str(tmp_path / "run"), "--steps", "3",
                 "--preset", "tiny", "--batch-size", "8", "--precision", "fp32",
                 "--set", "training.progress=false", "--set", "training.eval_every=3"]) == 0
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()


def test_labeled_fasta_takes_labels_from_the_header(tmp_path):
    from warmstart.data.labeled import read_records

    path = write(tmp_path / "enzymes.faa", ">P1 label=hydrolase organism=human\nMKV\n>P2 label=ligase\nMLL\n")
    assert read_records(path, ["text", "label"]) == [{"text": "MKV", "label": "hydrolase"},
                                                    {"text": "MLL", "label": "ligase"}]
    with pytest.raises(InputError, match=r"line 3: no column 'organism'"):
        read_records(path, ["text", "organism"])
    rows = "".join(f">s{i} label={'ab'[i % 2]}\n{'ACGT' if i % 2 else 'TTTT'}{'AC' * 5}\n" for i in range(24))
    train = write(tmp_path / "train.fna", rows)
    assert main(["tokenizer", "--kind", "dna", "-o", str(tmp_path / "tok")]) == 0
    assert main(["finetune", "--train", train, "--init", "random", "--tokenizer", str(tmp_path / "tok"),
                 "-o", str(tmp_path / "run"), "--epochs", "1", "--precision", "fp32", "--max-length", "32",
                 "--set", "model.preset=tiny", "--set", "training.progress=false", "--set", "training.batch_size=8"]) == 0


def test_dna_kmers_read_k_bases_at_a_time(tmp_path):
    transformers = pytest.importorskip("transformers")
    out = tmp_path / "k3"
    assert main(["tokenizer", "--kind", "dna", "--kmer", "3", "-o", str(out)]) == 0
    ours = load_tokenizer(out)
    assert ours.kind == "kmer" and ours.vocab_size == 5 + 5 + 64 and bool(ours.word_start.all())
    hf = transformers.AutoTokenizer.from_pretrained(str(out))
    # k bases at a time; a k-mer holding an N, and the shorter tail, base by base
    assert hf.convert_ids_to_tokens(hf("ACGTTTANCCGA")["input_ids"]) == [
        "[CLS]", "ACG", "TTT", "A", "N", "CCG", "A", "[SEP]"]
    assert hf("ACGTTTANCCGA")["input_ids"] == ours.tokenizer.encode("ACGTTTANCCGA").ids
    with pytest.raises(Exception, match="k-mers are for kind=dna"):
        TokenizerJob(kind="protein", kmer=3, output=str(tmp_path / "x"))


def test_random_crops_show_every_part_of_a_long_sequence(tmp_path):
    from warmstart.data.sequences import build_rows
    from warmstart.data.shards import open_shards

    proteins = ">long\n" + "ACDEFGHIKLMNPQRSTVWY" * 10 + "\n>short\nMKV\n"
    assert main(["tokenizer", "--kind", "protein", "-o", str(tmp_path / "tok")]) == 0
    prepare(PrepareJob(inputs=[write(tmp_path / "p.fasta", proteins)], tokenizer=str(tmp_path / "tok"),
                       output=str(tmp_path / "shards"), workers=0, seq_len=32, validation=0.01, layout="document",
                       alphabet="protein", dedupe=False), progress=False)
    shards = open_shards(tmp_path / "shards")
    special = shards.index["tokenizer"]["special_ids"]
    split = shards["train"]
    long_row = int(np.argmax(split.doc_length))
    start = build_rows("document", split, 32, special)
    crops = build_rows("document", split, 32, special, seed=5, crop="random")
    firsts = {tuple(crops.row(long_row, epoch)["input_ids"][1:4]) for epoch in range(20)}
    assert len(firsts) > 5  # a different window most epochs
    assert (crops.row(long_row, 3)["input_ids"] == crops.row(long_row, 3)["input_ids"]).all()  # seeded
    assert (start.row(long_row, 7)["input_ids"] == start[long_row]["input_ids"]).all()  # start: as before
    short = 1 - long_row
    assert (crops.row(short, 9)["input_ids"] == start[short]["input_ids"]).all()  # short ones stay whole
    assert main(["pretrain", "--shards", str(tmp_path / "shards"), "-o", str(tmp_path / "run"), "--steps", "2",
                 "--preset", "tiny", "--batch-size", "2", "--precision", "fp32", "--set", "crop=random",
                 "--set", "training.progress=false"]) == 0


def test_overlapping_dna_kmers_from_tokenizer_to_served_model(tmp_path):
    import torch

    from warmstart.config import MaskingConfig
    from warmstart.masking import masking_of, select_tokens
    from warmstart.serving.predictor import ClassifyItem, load_predictor
    from warmstart.tokenization.kmers import kmerize

    transformers = pytest.importorskip("transformers")
    out = tmp_path / "k3"
    assert main(["tokenizer", "--kind", "dna", "--kmer", "3", "--overlapping", "-o", str(out)]) == 0
    ours = load_tokenizer(out)
    assert ours.kind == "kmer" and ours.kmer_overlap == 3 and ours.vocab_size == 5 + 64
    ids = ours.encode_batch(["acgtA", "ACNGT", "AC"])
    assert [ours.tokenizer.id_to_token(i) for i in ids[0]] == ["ACG", "CGT", "GTA"]  # one k-mer per position
    assert ids[1] == [ours.unk_id] * 3 and ids[2] == [ours.unk_id]  # a k-mer with N, a sequence shorter than k
    hf = transformers.AutoTokenizer.from_pretrained(str(out))  # DNABERT's convention: text as k-mers
    assert kmerize("ACGTA", 3) == "ACG CGT GTA"
    assert hf(kmerize("ACGTACCA", 3))["input_ids"] == [ours.cls_id, *ours.encode_batch(["ACGTACCA"])[0], ours.sep_id]

    # MLM hides runs of k tokens: a lone masked k-mer would be spelled out by its neighbours
    masking, vocab = masking_of(ours, MaskingConfig())
    assert masking.span and masking.span_length == 3
    chosen = select_tokens(torch.randint(5, 69, (64, 200)), masking, vocab, torch.Generator().manual_seed(0))
    assert 0.12 < chosen.float().mean() < 0.18
    padded = torch.nn.functional.pad(chosen, (1, 1))
    starts = padded[:, 1:-1] & ~padded[:, :-2]
    ends = padded[:, 1:-1] & ~padded[:, 2:]
    first, last = starts.nonzero()[:, 1], ends.nonzero()[:, 1]
    runs = (last - first + 1)[last < 199]  # a span cut by the row's end may be shorter
    assert runs.min() >= 3  # overlapping spans merge into longer runs, never shorter ones

    # the one pipeline on plain DNA: prepare, pre-train, fine-tune, serve
    import random

    rng = random.Random(0)
    corpus = write(tmp_path / "genome.fna", "".join(
        f">c{i}\n" + "".join(rng.choice("ACGT") for _ in range(120)) + "\n" for i in range(40)))
    prepare(PrepareJob(inputs=[corpus], tokenizer=str(out), output=str(tmp_path / "shards"), workers=0, seq_len=64,
                       validation=4, alphabet="dna", layout="document"), progress=False)
    assert main(["pretrain", "--shards", str(tmp_path / "shards"), "-o", str(tmp_path / "pre"), "--steps", "3",
                 "--preset", "tiny", "--batch-size", "8", "--precision", "fp32", "--set", "crop=random",
                 "--set", "training.progress=false", "--set", "training.eval_every=3"]) == 0
    rows = "".join(f">s{i} label={'ab'[i % 2]}\n{'GATTACA' if i % 2 else 'CCCGGGC'}{'AC' * 8}\n" for i in range(48))
    train = write(tmp_path / "train.fna", rows)
    assert main(["finetune", "--train", train, "--init", str(tmp_path / "pre" / "model"), "-o", str(tmp_path / "ft"),
                 "--epochs", "12", "--precision", "fp32", "--max-length", "32", "--set", "training.progress=false",
                 "--set", "training.batch_size=8", "--set", "optimizer.lr=3e-3"]) == 0
    predictor = load_predictor(tmp_path / "ft" / "best")
    assert predictor.tokenizer.kmer_overlap == 3
    answers = predictor.classify([ClassifyItem("GATTACA" + "AC" * 8), ClassifyItem("CCCGGGC" + "AC" * 8)])
    assert [a["label"] for a in answers] == ["b", "a"]
