"""`warmstart demo --proteins`: what pre-training on one's own unlabeled proteins buys, against a biologist's baselines.

The task is Swiss-Prot's enzyme class, 6-way (``enzyme-class``: Debian ``metastudent-data``, split by
30%-identity MMseqs2 clusters, so no test protein has a training homolog at that threshold). The pre-training
corpus is the training clusters' proteins, labels dropped; validation and test clusters stay unseen. At 10 /
50 / 200 labeled proteins per class, several seeds each:

- random init: a small BERT and a BiLSTM, the controls;
- ours: the same two, pre-trained here with MLM on the corpus (random crops of ``max_length`` residues);
- k-mer composition (amino acids and dipeptides) + logistic regression, and nearest-neighbour label transfer
  from the best MMseqs2 hit among the labeled proteins: the two baselines a biologist would use.

Every start is trained two ways per seed, full fine-tuning and a linear probe of its frozen mean-pooled states;
the validation clusters choose the best epoch, the probe's L2 strength and, per start and budget, the mode the
table reports. The test clusters are used for the final numbers only. Writes ``report.md``, ``enzyme_class.png``
and ``results.json``.

`warmstart demo --dna` is the same run, smaller, on DNA: pre-training on E. coli 536's genome
(``ecoli-genome``), the primate splice-junction task (``splice``: 60 bases, 3 classes, StatLog's test
rows) at 7 / 17 / 67 labels per class, against positional one-hot and k-mer composition features with
logistic regression; validation is a fixed share held out of the training rows.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from warmstart.config import PrepareJob, TokenizerJob, load_config
from warmstart.data.label_budget import take_per_class
from warmstart.data.prepare import PrepareSummary, prepare
from warmstart.data.tasks import hold_out
from warmstart.data.tokenizer_job import run_tokenizer_job
from warmstart.datasets import fetch, iter_records
from warmstart.demo import (
    banner,
    choose_modes,
    finetune_grid,
    machine_line,
    plot,
    pretrain_stage,
    run_summary,
    summarize,
)
from warmstart.errors import InputError
from warmstart.evaluation.intervals import mean_and_interval
from warmstart.evaluation.probe import fit_probe
from warmstart.evaluation.reporting import format_table, markdown_table
from warmstart.evaluation.sequence_baselines import features, nearest_neighbour
from warmstart.export.hf import export_hf


@dataclass(frozen=True)
class SequenceTask:
    """What differs between the protein and the DNA demo: data, alphabet, budgets, baselines and words."""

    name: str
    alphabet: str
    corpus: str  # data set whose corpus.jsonl is pre-trained on
    labeled: str  # data set with train.jsonl, test.jsonl and, when validation_file, validation.jsonl
    validation_file: bool
    budgets: tuple[int, ...]  # labels per class
    max_length: int  # tokens per row in pre-training (random crops) and per sequence in fine-tuning
    baselines: tuple[str, ...]
    epochs: dict[int, int]  # fine-tuning epochs per budget
    title: str  # the plot's
    noun: str  # what a sequence is called in the report
    png: str
    data_banner: str


PROTEINS = SequenceTask(
    "proteins", "protein", "enzyme-class", "enzyme-class", True, (10, 50, 200), 256, ("composition", "mmseqs-nearest"),
    {10: 20, 50: 8, 200: 3}, "Enzyme class (6-way) on unseen clusters: accuracy against labels per class", "proteins",
    "enzyme_class.png", "Swiss-Prot enzymes from Debian metastudent-data, split by 30%-identity clusters (mmseqs2)")
DNA = SequenceTask(
    "dna", "dna", "ecoli-genome", "splice", False, (7, 17, 67), 128, ("one_hot", "composition"),
    {7: 30, 17: 20, 67: 10}, "Splice junctions (3-way): accuracy against labels per class", "DNA windows",
    "splice.png", "E. coli 536's genome (bowtie-examples) and the primate splice junctions (r-cran-mlbench)")
TASKS = {task.name: task for task in (PROTEINS, DNA)}
VALIDATION_SHARE = 0.1  # held out of the training rows when the labeled set has no validation file


@dataclass(frozen=True)
class SequencePlan:
    bert_minutes: float
    bilstm_minutes: float
    budgets: tuple[int, ...]  # labeled sequences per class
    seeds: int
    max_length: int
    starts: tuple[str, ...] = ("random", "ours", "random-bilstm", "ours-bilstm")

    @classmethod
    def full(cls, task: SequenceTask, minutes: float | None = None) -> SequencePlan:
        half = (minutes or (14.0 if task is PROTEINS else 8.0)) / 2
        return cls(bert_minutes=half, bilstm_minutes=half, budgets=task.budgets, seeds=3, max_length=task.max_length)

    @classmethod
    def quick(cls, task: SequenceTask, minutes: float | None = None) -> SequencePlan:
        half = (minutes or 0.3) / 2
        return cls(bert_minutes=half, bilstm_minutes=half, budgets=task.budgets[:1], seeds=2, max_length=64)


# Shapes and settings fixed before any measurement (the text demo's small BERT and BiLSTM); nothing here
# was tuned on the test clusters.
BERT_MODEL = ["model.preset=null", "model.hidden_size=256", "model.num_hidden_layers=4", "model.num_attention_heads=4",
              "model.intermediate_size=1024", "model.dropout=0.0", "model.pre_norm=false"]
BILSTM_MODEL = ["model.arch=bilstm", "model.preset=null", "model.hidden_size=256", "model.num_layers=1",
                "model.dropout=0.0"]
PRETRAINING = {"bert": ["optimizer.lr=1e-3"], "bilstm": ["optimizer.lr=2e-3"]}
COMMON = ["masking.probability=0.15", "optimizer.warmup=0.02", "training.batch_size=16", "crop=random"]
FINETUNE_LR = 5e-4


def sequence_shards(corpus: Path, alphabet: str, tokenizer: Path, shards: Path, seq_len: int,
                    group_field: str | None = None) -> PrepareSummary:
    """The fixed ``alphabet`` tokenizer and document shards of ``corpus``, 2% held out (whole groups with
    ``group_field``); rows are cropped to ``seq_len`` while pre-training."""
    run_tokenizer_job(TokenizerJob(output=str(tokenizer), kind=alphabet))
    return prepare(PrepareJob(inputs=[str(corpus)], tokenizer=str(tokenizer), output=str(shards), validation=0.02,
                              seq_len=seq_len, layout="document", alphabet=alphabet, group_field=group_field),
                   overwrite=True, progress=False)


def _data(task: SequenceTask, output: Path, plan: SequencePlan, reuse: bool) -> tuple[Path, Path, Path]:
    """Stages 1-2: the data sets, the fixed alphabet, and document shards of the corpus (random crops)."""
    banner(f"1/5 {task.data_banner}")
    labeled = fetch(task.labeled, ensure_installed=True)
    corpus = fetch(task.corpus, ensure_installed=True) / "corpus.jsonl"
    for folder in dict.fromkeys((labeled, corpus.parent)):
        for note in json.loads((folder / "meta.json").read_text(encoding="utf-8")).get("notes", []):
            print(f"  {note}")
    banner(f"2/5 the {task.alphabet} alphabet and pre-training shards (one sequence per row, random crops)")
    tokenizer, shards = output / "tokenizer", output / "shards"
    if reuse and (shards / "index.json").is_file() and (tokenizer / "tokenizer.json").is_file():
        print(f"  reusing {tokenizer} and {shards}")
        return labeled, tokenizer, shards
    summary = sequence_shards(corpus, task.alphabet, tokenizer, shards, plan.max_length)
    print(f"  {summary.train_tokens:,} training tokens, {summary.validation_tokens:,} validation tokens "
          "(rows are cropped to the row length while pre-training)")
    return labeled, tokenizer, shards


def _job_for(task: SequenceTask, plan: SequencePlan, data: Path, output: Path, quick: bool):
    validation = ({"validation": str(data / "validation.jsonl")} if task.validation_file
                  else {"validation_share": VALIDATION_SHARE})

    def job_for(name: str, spec: dict, budget: int):
        return load_config("finetune", None, {
            "train": str(data / "train.jsonl"), **validation, "test": str(data / "test.jsonl"), "init": spec["init"],
            "tokenizer": spec.get("tokenizer"), "output": str(output / name / str(budget)), "labels_per_class": budget,
            "max_length": plan.max_length, "epochs": float(2 if quick else task.epochs.get(budget, 5)),
        }, [*spec.get("model", []), f"optimizer.lr={FINETUNE_LR}", "optimizer.warmup=0.1", "training.batch_size=16",
            "training.progress=false", "evaluations=2"])

    return job_for


def _splits(task: SequenceTask, data: Path) -> dict[str, list[dict]]:
    """train / validation / test records as fine-tuning reads them (the same held-out validation rows)."""
    records = {split: list(iter_records(data, split)) for split in ("train", "test")}
    if task.validation_file:
        records["validation"] = list(iter_records(data, "validation"))
    else:
        records["train"], records["validation"] = hold_out(records["train"], VALIDATION_SHARE)
    return records


def baseline_rows(task: SequenceTask, plan: SequencePlan, data: Path) -> list[dict]:
    """Each baseline of the task at every budget and seed, on the labeled draws fine-tuning makes."""
    records = _splits(task, data)
    texts = {split: [r["text"] for r in rows] for split, rows in records.items()}
    labels = {split: np.array([r["label"] for r in rows]) for split, rows in records.items()}
    names = sorted(set(labels["train"]))
    ids = {split: np.array([names.index(x) for x in y]) for split, y in labels.items()}
    fixed = {(kind, split): features(kind, texts[split], task.alphabet) for kind in task.baselines
             if kind != "mmseqs-nearest" for split in ("validation", "test")}
    rows = []
    for budget in plan.budgets:
        for seed in range(plan.seeds):
            # NOTE: the same rule and seed as finetune's labels_per_class over the training rows: the same draw
            chosen = take_per_class(labels["train"], budget, seed)
            common = {"labels": budget, "seed": seed}
            for kind in task.baselines:
                if kind == "mmseqs-nearest":
                    pairs = [(texts["train"][i], str(labels["train"][i])) for i in chosen]
                    scores = {}
                    for split in ("validation", "test"):
                        transfer = nearest_neighbour(pairs, texts[split], ensure_installed=True)
                        scores[split] = float((np.array(transfer.labels) == labels[split]).mean())
                        scores[f"{split}_hits"] = transfer.hits / len(texts[split])
                    rows.append({"start": kind, "mode": "best hit", **common, "validation_accuracy": scores["validation"],
                                 "test_accuracy": scores["test"], "test_hit_share": scores["test_hits"]})
                    continue
                train_x = features(kind, [texts["train"][i] for i in chosen], task.alphabet)
                probe, validation = fit_probe(train_x, ids["train"][chosen], fixed[(kind, "validation")],
                                              ids["validation"], len(names))
                test = float((probe.predict(fixed[(kind, "test")]) == ids["test"]).mean())
                rows.append({"start": kind, "mode": "logistic", **common, "validation_accuracy": validation,
                             "test_accuracy": test})
            print(f"  {budget:>4} per class, seed {seed}: " + ", ".join(
                f"{r['start']} {r['test_accuracy']:.3f}" for r in rows if r["labels"] == budget and r["seed"] == seed),
                flush=True)
    return rows


def _baseline_table(rows: list[dict], task: SequenceTask, plan: SequencePlan) -> list[dict]:
    table = []
    for name in task.baselines:
        for budget in plan.budgets:
            picked = [r for r in rows if r["start"] == name and r["labels"] == budget]
            table.append({"start": name, "labels": budget, "mode": picked[0]["mode"],
                          **mean_and_interval([r["test_accuracy"] for r in picked]),
                          "validation": float(np.mean([r["validation_accuracy"] for r in picked]))})
    return table


def export_best(rows: list[dict], finetune_dir: Path, out: Path) -> dict | None:
    """The fine-tuned model with the best validation accuracy at the largest budget that transformers can load
    (a BERT; the BiLSTM has no Hugging Face class), exported there; None when none can be."""
    largest = max(r["labels"] for r in rows)
    ranked = sorted((r for r in rows if r["mode"] == "fine-tune" and r["labels"] == largest),
                    key=lambda r: -r["validation_accuracy"])
    for row in ranked:
        folder = finetune_dir / row["start"] / str(largest) / f"seed-{row['seed']}" / "best"
        try:
            export_hf(folder, out)
        except InputError:
            continue  # no Hugging Face equivalent (the BiLSTM)
        return {**row, "model": str(folder), "export": str(out)}
    return None


def run_sequence_demo(task_name: str, output: Path, quick: bool = False, minutes: float | None = None,
                      budgets: tuple[int, ...] | None = None, seeds: int | None = None, reuse: bool = False) -> dict:
    """The protein (``proteins``) or DNA (``dna``) demo; ``reuse`` keeps shards and pre-trained models in ``output``."""
    task = TASKS[task_name]
    started = time.perf_counter()
    plan = SequencePlan.quick(task, minutes) if quick else SequencePlan.full(task, minutes)
    plan = dataclasses.replace(plan, budgets=tuple(budgets or plan.budgets), seeds=seeds or plan.seeds)
    output.mkdir(parents=True, exist_ok=True)
    estimate = 3 if quick else (50 if task is PROTEINS else 20)
    print(f"warmstart demo --{task.name}{' --quick' if quick else ''}: about {estimate} minutes on a 2-core CPU "
          f"(a first run also fetches and caches its data); output in {output}")
    data, tokenizer, shards = _data(task, output, plan, reuse)

    banner(f"3/5 pre-training a small BERT and a BiLSTM on the unlabeled {task.noun} ({plan.bert_minutes:g} + "
           f"{plan.bilstm_minutes:g} minutes)")
    runs = {}
    for arch, minutes_, model in (("bert", plan.bert_minutes, BERT_MODEL), ("bilstm", plan.bilstm_minutes, BILSTM_MODEL)):
        settings = model + PRETRAINING[arch] + COMMON
        runs[arch] = run_summary(pretrain_stage(shards, output / f"pretrain-{arch}", minutes_, settings, quick, reuse=reuse))

    banner(f"4/5 fine-tuning and probes: {len(plan.starts)} starts x {len(plan.budgets)} budgets x {plan.seeds} seeds, "
           "then the baselines")
    starts = {"random": {"init": "random", "tokenizer": str(tokenizer), "model": BERT_MODEL},
              "ours": {"init": str(runs["bert"].model_dir)},
              "random-bilstm": {"init": "random", "tokenizer": str(tokenizer), "model": BILSTM_MODEL},
              "ours-bilstm": {"init": str(runs["bilstm"].model_dir)}}
    rows = finetune_grid(plan, starts, output / "finetune", _job_for(task, plan, data, output / "finetune", quick),
                         unit="per class")
    baselines = baseline_rows(task, plan, data)
    exported = export_best(rows, output / "finetune", output / "export-hf")
    return _report(task, rows, baselines, plan, runs, data, output, (time.perf_counter() - started) / 60, exported)


def _report(task: SequenceTask, rows: list[dict], baselines: list[dict], plan: SequencePlan, runs: dict, data: Path,
            output: Path, minutes_taken: float, exported: dict | None) -> dict:
    banner("5/5 report")
    chosen = choose_modes(rows, plan)
    table = summarize(rows, plan, chosen) + _baseline_table(baselines, task, plan)
    test_labels = [r["label"] for r in iter_records(data, "test")]
    majority = max(test_labels.count(x) for x in set(test_labels)) / len(test_labels)
    png = plot(table, plan, output / task.png, majority, title=task.title,
               xlabel=f"labeled {task.noun} per class", chance_label="majority class")
    columns = ["start", "labels", "mode", "mean", "low", "high", "std", "n", "validation"]
    print(format_table(table, columns))
    machine = machine_line()
    print(f"machine: {machine}")
    pretraining = {arch: dataclasses.asdict(run) | {"model_dir": str(run.model_dir)} for arch, run in runs.items()}
    (output / "results.json").write_text(json.dumps({"task": task.name, "plan": dataclasses.asdict(plan), "runs": rows,
                                                     "baselines": baselines, "table": table, "machine": machine,
                                                     "minutes": minutes_taken, "pretraining": pretraining,
                                                     "exported": exported}, indent=2))
    bert, bilstm = runs["bert"], runs["bilstm"]
    held_out = ("the held-out 30%-identity clusters" if task is PROTEINS else "StatLog's test rows")
    report = [
        f"# warmstart demo --{task.name}: {task.title.split(':')[0].lower()} from few labels",
        "",
        f"{minutes_taken:.1f} minutes on this machine. Test accuracy on {len(test_labels):,} {task.noun} of {held_out} "
        f"(majority class {majority:.3f}), mean over {plan.seeds} seeds with a 95% Student-t interval. `labels` is "
        f"labeled {task.noun} per class. Our pre-training used only unlabeled {task.alphabet} sequences "
        f"({task.corpus}). For the starts, the mode (fine-tune or a linear probe of mean-pooled states) is the one "
        "with the higher mean validation accuracy; the baselines' settings (L2 strength) are chosen on validation too.",
        "",
        markdown_table(table, columns),
        "",
        f"![{task.name}]({png.name})",
        "",
        f"Pre-training (MLM, 15%, random crops of {plan.max_length} tokens): BERT {bert.steps} steps, "
        f"{bert.tokens:,} tokens, validation MLM accuracy {bert.validation.get('mlm_accuracy', float('nan')):.3f}; "
        f"BiLSTM {bilstm.steps} steps, {bilstm.tokens:,} tokens, validation MLM accuracy "
        f"{bilstm.validation.get('mlm_accuracy', float('nan')):.3f}.",
        "",
        f"Machine: {machine}; BERT {bert.speed()}; BiLSTM {bilstm.speed()}.",
        "",
        (f"Exported for transformers (`AutoModelForSequenceClassification`): `{exported['export']}`, the "
         f"{exported['start']} start fine-tuned on {exported['labels']} labels per class, seed {exported['seed']}, "
         f"chosen on validation ({exported['validation_accuracy']:.3f}); serve it with "
         f"`warmstart serve {exported['model']}` (`POST /v1/classify` with sequences)." if exported else
         "No fine-tuned model had a transformers equivalent to export."),
    ]
    (output / "report.md").write_text("\n".join(report) + "\n", encoding="utf-8")
    print(f"\n{task.name} demo finished in {minutes_taken:.1f} minutes: {output / 'report.md'}, {png}")
    return {"table": table, "rows": rows, "baselines": baselines, "report": output / "report.md", "plot": png}
