"""Protein MLM throughput: `warmstart pretrain` vs Hugging Face `EsmForMaskedLM` + `Trainer`, same proteins and shape.

Both sides train the same ESM-2-like encoder (hidden 256, 4 layers, 4 heads, FFN 1024, rotary positions, no
dropout) with 15% masking, AdamW and a linear schedule, on one protein per row (the ``uniprot-sample`` set:
20,000 UniProt proteins from Debian ``mmseqs2-examples``), rows of up to 512 and 1,024 residues:

* HF, its best configuration on this machine: ``EsmForMaskedLM`` (SDPA attention where this transformers
  has it) + ``DataCollatorForLanguageModeling`` (dynamic padding) + ``Trainer``, ``bf16=True`` where the CPU
  computes bf16 natively, fp32 where it does not (``warmstart.hardware.native_bf16``); proteins cut to the row
  length as ESM's own data loader does (a window; here the first, HF's ``truncation=True``); run with and
  without ``group_by_length`` (batches of similar lengths), and the faster of the two is its number;
* warmstart: ``warmstart pretrain`` on document shards of the same proteins (``crop=random``,
  ``model.positions=rotary``), precision auto, with its default ``group_by_length`` and, for the record,
  with batches drawn at random (each batch still cut after its longest row, as HF's collator pads to it).

Each run is its own child process; tokens/s counts real residues (attention-mask ones) over the steps after a
warm-up. The report goes to ``bench/results/<machine kind>/protein-mlm.md`` with the machine named.

    .venv/bin/python bench/protein_mlm.py            # ~12 minutes on 2 cores
    .venv/bin/python bench/protein_mlm.py --quick    # every path, a few steps
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine, machine_kind, markdown_table

RESULTS = Path(__file__).resolve().parent / "results"
SHAPE = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 1024}
LR, MASK = 5e-4, 0.15
TOKENS_PER_BATCH = 8192  # rows x row length, the same at every length


def _steps(spec: dict) -> tuple[int, int]:
    return spec["steps"], spec["warmup"]


def _length_grouping(arguments_class, grouped: bool) -> dict:
    """HF's switch for batches of similar lengths: ``train_sampling_strategy`` in transformers 5, before that
    ``group_by_length``."""
    names = {f.name for f in dataclasses.fields(arguments_class)}
    if "train_sampling_strategy" in names:
        return {"train_sampling_strategy": "group_by_length" if grouped else "random"}
    return {"group_by_length": grouped}


def run_hf(spec: dict) -> dict:
    import torch
    from transformers import (DataCollatorForLanguageModeling, EsmConfig, EsmForMaskedLM, PreTrainedTokenizerFast,
                              Trainer, TrainerCallback, TrainingArguments)

    torch.set_num_threads(os.cpu_count() or 1)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(spec["tokenizer"])
    texts = [json.loads(line)["text"] for line in Path(spec["corpus"]).read_text().splitlines()]
    # one residue per token: the tokenizer splits characters itself
    encoded = tokenizer(texts, truncation=True, max_length=spec["length"], return_special_tokens_mask=True)
    rows = [{key: encoded[key][i] for key in encoded} for i in range(len(texts))]
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=MASK)
    real: list[int] = []

    def counting(features):
        batch = collator(features)
        real.append(int(batch["attention_mask"].sum()))
        return batch

    ends: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            ends.append(time.perf_counter())

    config = EsmConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                       mask_token_id=tokenizer.mask_token_id, position_embedding_type="rotary",
                       max_position_embeddings=spec["length"] + 2, hidden_dropout_prob=0.0,
                       attention_probs_dropout_prob=0.0, token_dropout=False, emb_layer_norm_before=False, **SHAPE)
    torch.manual_seed(0)
    try:
        model = EsmForMaskedLM._from_config(config, attn_implementation="sdpa")
        attention = "sdpa"
    except (ValueError, ImportError):  # a transformers without SDPA for ESM
        model, attention = EsmForMaskedLM(config), "eager"
    steps, warmup = _steps(spec)
    with tempfile.TemporaryDirectory(prefix="bench-esm-") as scratch:
        arguments = TrainingArguments(
            output_dir=scratch, per_device_train_batch_size=spec["batch"], max_steps=steps, learning_rate=LR,
            lr_scheduler_type="linear", warmup_steps=max(1, round(0.06 * steps)), bf16=spec["bf16"], use_cpu=True,
            logging_strategy="no", **_length_grouping(TrainingArguments, spec["grouped"]),
            save_strategy="no", report_to=[], seed=0, disable_tqdm=True, remove_unused_columns=False,
            dataloader_num_workers=0)
        trainer = Trainer(model=model, args=arguments, train_dataset=rows, data_collator=counting, callbacks=[Clock()])
        trainer.train()
    return {"tokens": sum(real[warmup:steps]), "seconds": ends[steps - 1] - ends[warmup - 1], "attention": attention}


def run_warmstart(spec: dict) -> dict:
    from warmstart.config import load_config
    from warmstart.training.pretrain import pretrain

    steps, warmup = _steps(spec)
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as scratch:
        job = load_config("pretrain", None, {"shards": spec["shards"], "output": scratch}, [
            "model.preset=null", *(f"model.{k}={v}" for k, v in SHAPE.items()), "model.positions=rotary",
            "model.dropout=0.0", f"budget.steps={steps}", f"optimizer.lr={LR}", "optimizer.warmup=0.06",
            f"training.batch_size={spec['batch']}", "training.eval_every=0", "training.checkpoint_every=0",
            "training.log_every=1", "training.progress=false", "crop=random", f"masking.probability={MASK}",
            f"group_by_length={str(spec['grouped']).lower()}"])
        pretrain(job)
        records = [json.loads(line) for line in (Path(scratch) / "metrics.jsonl").read_text().splitlines()]
    train = {r["step"]: r for r in records if r["split"] == "train"}
    start, end = train[warmup], train[max(train)]
    return {"tokens": end["tokens"] - start["tokens"], "seconds": end["time"] - start["time"], "precision": "auto"}


def child(spec_file: str, result_file: str) -> None:
    spec = json.loads(Path(spec_file).read_text())
    result = run_hf(spec) if spec["side"] == "hf" else run_warmstart(spec)
    Path(result_file).write_text(json.dumps(result))


def _prepare(scratch: Path, lengths: list[int]) -> dict[str, str]:
    """The uniprot-sample corpus, the protein tokenizer, and document shards per row length."""
    from warmstart.config import PrepareJob, TokenizerJob
    from warmstart.data.prepare import prepare
    from warmstart.data.tokenizer_job import run_tokenizer_job
    from warmstart.datasets import fetch

    corpus = fetch("uniprot-sample", ensure_installed=True) / "corpus.jsonl"
    run_tokenizer_job(TokenizerJob(output=str(scratch / "tokenizer"), kind="protein"))
    paths = {"corpus": str(corpus), "tokenizer": str(scratch / "tokenizer")}
    for length in lengths:
        out = scratch / f"shards-{length}"
        prepare(PrepareJob(inputs=[str(corpus)], tokenizer=paths["tokenizer"], output=str(out), validation=0.01,
                           seq_len=length, layout="document", alphabet="protein"), overwrite=True, progress=False)
        paths[f"shards-{length}"] = str(out)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few steps per run: checks every path")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from warmstart import hardware

    bf16 = hardware.native_bf16("cpu")
    lengths = [512, 1024]
    steps, warmup = (4, 2) if args.quick else (30, 5)
    kind, machine_line = machine_kind()
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-protein-") as tmp:
        scratch = Path(tmp)
        paths = _prepare(scratch, lengths)
        for length in lengths:
            batch = TOKENS_PER_BATCH // length
            rate, attention = {}, ""
            for side, grouped in (("hf", False), ("hf", True), ("warmstart", False), ("warmstart", True)):
                spec = {"side": side, "grouped": grouped, "length": length, "batch": batch, "steps": steps,
                        "warmup": warmup, "bf16": bf16, "shards": paths[f"shards-{length}"], **paths}
                spec_file, result_file = scratch / "spec.json", scratch / "result.json"
                spec_file.write_text(json.dumps(spec))
                subprocess.run([sys.executable, __file__, "--child", str(spec_file), str(result_file)], check=True)
                result = json.loads(result_file.read_text())
                rate[side, grouped] = result["tokens"] / result["seconds"]
                attention = result.get("attention", attention)
            hf_best = max(rate["hf", False], rate["hf", True])
            ours = rate["warmstart", True]  # the default
            rows.append([f"{length} ({batch} rows)", f"{rate['hf', False]:,.0f}", f"{rate['hf', True]:,.0f}",
                         f"{rate['warmstart', False]:,.0f}", f"{ours:,.0f}", f"**{ours / hf_best:.2f}x**", attention])
            print(rows[-1], flush=True)
    versions = machine()
    report = [
        "# Protein MLM: `warmstart pretrain` vs Hugging Face `EsmForMaskedLM` + `Trainer`", "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %z')}; command: `.venv/bin/python bench/protein_mlm.py"
        f"{' --quick' if args.quick else ''}`; {(time.perf_counter() - started) / 60:.1f} min",
        f"- machine: {machine_line}; {', '.join(f'{k} {v}' for k, v in versions.items())}",
        f"- HF precision: {'bf16=True (native bf16 here)' if bf16 else 'fp32 (no native bf16 here)'}; warmstart: "
        "precision auto",
        f"- model: ESM-2-like, hidden 256, 4 layers, 4 heads, FFN 1024, rotary positions, dropout 0; 15% masking; "
        f"AdamW lr {LR}; {TOKENS_PER_BATCH:,} row tokens per batch",
        "- data: uniprot-sample (20,000 UniProt proteins), one protein per row, cut to the row length; tokens/s "
        f"counts real residues over steps {warmup + 1}-{steps}; each run a fresh process", "",
        markdown_table(["row length", "HF tokens/s", "HF group_by_length", "warmstart, random batches",
                        "warmstart (default: group_by_length)", "warmstart vs HF's best", "HF attention"], rows), "",
        "Target (issue 18): >= 3x.",
    ]
    out = RESULTS / kind / ("protein-mlm-quick.md" if args.quick else "protein-mlm.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(report) + "\n")
    print("\n".join(report))


if __name__ == "__main__":
    main()
