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
from warmstart.data.prepare import prepare
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
from warmstart.evaluation.intervals import mean_and_interval
from warmstart.evaluation.probe import fit_probe
from warmstart.evaluation.reporting import format_table, markdown_table
from warmstart.evaluation.sequence_baselines import features, nearest_neighbour


@dataclass(frozen=True)
class ProteinPlan:
    bert_minutes: float
    bilstm_minutes: float
    budgets: tuple[int, ...]  # labeled proteins per class
    seeds: int
    max_length: int  # residues per row in pre-training (random crops) and per protein in fine-tuning
    starts: tuple[str, ...] = ("random", "ours", "random-bilstm", "ours-bilstm")
    baselines: tuple[str, ...] = ("composition", "mmseqs-nearest")

    @classmethod
    def full(cls, minutes: float | None = None) -> ProteinPlan:
        half = (minutes or 14.0) / 2
        return cls(bert_minutes=half, bilstm_minutes=half, budgets=(10, 50, 200), seeds=3, max_length=256)

    @classmethod
    def quick(cls, minutes: float | None = None) -> ProteinPlan:
        half = (minutes or 0.3) / 2
        return cls(bert_minutes=half, bilstm_minutes=half, budgets=(10,), seeds=2, max_length=64)


# Shapes and settings fixed before any measurement (the text demo's small BERT and BiLSTM); nothing here
# was tuned on the test clusters.
BERT_MODEL = ["model.preset=null", "model.hidden_size=256", "model.num_hidden_layers=4", "model.num_attention_heads=4",
              "model.intermediate_size=1024", "model.dropout=0.0", "model.pre_norm=false"]
BILSTM_MODEL = ["model.arch=bilstm", "model.preset=null", "model.hidden_size=256", "model.num_layers=1",
                "model.dropout=0.0"]
PRETRAINING = {"bert": ["optimizer.lr=1e-3"], "bilstm": ["optimizer.lr=2e-3"]}
COMMON = ["masking.probability=0.15", "optimizer.warmup=0.02", "training.batch_size=16", "crop=random"]
EPOCHS = {10: 30, 50: 12, 200: 5}  # fewer passes as the labeled set grows (about 100-400 steps each)
FINETUNE_LR = 5e-4


def _data(output: Path, plan: ProteinPlan, reuse: bool) -> tuple[Path, Path, Path]:
    """Stages 1-2: the clustered enzyme set, the fixed protein alphabet, and document shards of the corpus."""
    banner("1/5 Swiss-Prot enzymes from Debian metastudent-data, split by 30%-identity clusters (mmseqs2)")
    data = fetch("enzyme-class", ensure_installed=True)
    meta = json.loads((data / "meta.json").read_text(encoding="utf-8"))
    for note in meta.get("notes", []):
        print(f"  {note}")
    banner("2/5 the protein alphabet and pre-training shards (one protein per row, random crops)")
    tokenizer, shards = output / "tokenizer", output / "shards"
    if reuse and (shards / "index.json").is_file() and (tokenizer / "tokenizer.json").is_file():
        print(f"  reusing {tokenizer} and {shards}")
        return data, tokenizer, shards
    run_tokenizer_job(TokenizerJob(output=str(tokenizer), kind="protein"))
    summary = prepare(PrepareJob(inputs=[str(data / "corpus.jsonl")], tokenizer=str(tokenizer), output=str(shards),
                                 validation=0.02, seq_len=plan.max_length, layout="document", alphabet="protein"),
                      overwrite=True, progress=False)
    print(f"  {summary.train_tokens:,} training residues, {summary.validation_tokens:,} validation residues "
          "(rows are cropped to the row length while pre-training)")
    return data, tokenizer, shards


def _job_for(plan: ProteinPlan, data: Path, output: Path, quick: bool):
    def job_for(name: str, spec: dict, budget: int):
        return load_config("finetune", None, {
            "train": str(data / "train.jsonl"), "validation": str(data / "validation.jsonl"),
            "test": str(data / "test.jsonl"), "init": spec["init"], "tokenizer": spec.get("tokenizer"),
            "output": str(output / name / str(budget)), "labels_per_class": budget, "max_length": plan.max_length,
            "epochs": float(2 if quick else EPOCHS.get(budget, 5)), "truncation": "warn",
        }, [*spec.get("model", []), f"optimizer.lr={FINETUNE_LR}", "optimizer.warmup=0.1", "training.batch_size=16",
            "training.progress=false", "evaluations=4"])

    return job_for


def baseline_rows(plan: ProteinPlan, data: Path) -> list[dict]:
    """Composition + logistic regression and MMseqs2 nearest-neighbour transfer, on the same labeled draws."""
    records = {split: list(iter_records(data, split)) for split in ("train", "validation", "test")}
    texts = {split: [r["text"] for r in rows] for split, rows in records.items()}
    labels = {split: np.array([r["label"] for r in rows]) for split, rows in records.items()}
    names = sorted(set(labels["train"]))
    ids = {split: np.array([names.index(x) for x in y]) for split, y in labels.items()}
    composition = {split: features("composition", seqs, "protein") for split, seqs in texts.items() if split != "train"}
    rows = []
    for budget in plan.budgets:
        for seed in range(plan.seeds):
            # NOTE: the same rule and seed as finetune's labels_per_class over train.jsonl: the same proteins
            chosen = take_per_class(labels["train"], budget, seed)
            train_x = features("composition", [texts["train"][i] for i in chosen], "protein")
            probe, validation = fit_probe(train_x, ids["train"][chosen], composition["validation"], ids["validation"],
                                          len(names))
            test = float((probe.predict(composition["test"]) == ids["test"]).mean())
            common = {"labels": budget, "seed": seed}
            rows.append({"start": "composition", "mode": "logistic", **common, "validation_accuracy": validation,
                         "test_accuracy": test})
            pairs = [(texts["train"][i], str(labels["train"][i])) for i in chosen]
            scores = {}
            for split in ("validation", "test"):
                transfer = nearest_neighbour(pairs, texts[split], ensure_installed=True)
                scores[split] = float((np.array(transfer.labels) == labels[split]).mean())
                scores[f"{split}_hits"] = transfer.hits / len(texts[split])
            rows.append({"start": "mmseqs-nearest", "mode": "best hit", **common,
                         "validation_accuracy": scores["validation"], "test_accuracy": scores["test"],
                         "test_hit_share": scores["test_hits"]})
            print(f"  {budget:>4} per class, seed {seed}: composition {test:.3f}, mmseqs nearest {scores['test']:.3f} "
                  f"(a hit for {scores['test_hits']:.0%} of test proteins)", flush=True)
    return rows


def _baseline_table(rows: list[dict], plan: ProteinPlan) -> list[dict]:
    table = []
    for name in plan.baselines:
        for budget in plan.budgets:
            picked = [r for r in rows if r["start"] == name and r["labels"] == budget]
            table.append({"start": name, "labels": budget, "mode": picked[0]["mode"],
                          **mean_and_interval([r["test_accuracy"] for r in picked]),
                          "validation": float(np.mean([r["validation_accuracy"] for r in picked]))})
    return table


def run_protein_demo(output: Path, quick: bool = False, minutes: float | None = None,
                     budgets: tuple[int, ...] | None = None, seeds: int | None = None, reuse: bool = False) -> dict:
    started = time.perf_counter()
    plan = ProteinPlan.quick(minutes) if quick else ProteinPlan.full(minutes)
    plan = dataclasses.replace(plan, budgets=tuple(budgets or plan.budgets), seeds=seeds or plan.seeds)
    output.mkdir(parents=True, exist_ok=True)
    print(f"warmstart demo --proteins{' --quick' if quick else ''}: about {3 if quick else 50} minutes on a 2-core "
          f"CPU (the first run also fetches 225 MB and clusters 60,000 proteins: ~3 more); output in {output}")
    data, tokenizer, shards = _data(output, plan, reuse)

    banner(f"3/5 pre-training a small BERT and a BiLSTM on the training clusters ({plan.bert_minutes:g} + "
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
    rows = finetune_grid(plan, starts, output / "finetune", _job_for(plan, data, output / "finetune", quick),
                         unit="per class")
    baselines = baseline_rows(plan, data)
    return _report(rows, baselines, plan, runs, data, output, (time.perf_counter() - started) / 60)


def _report(rows: list[dict], baselines: list[dict], plan: ProteinPlan, runs: dict, data: Path, output: Path,
            minutes_taken: float) -> dict:
    banner("5/5 report")
    chosen = choose_modes(rows, plan)
    table = summarize(rows, plan, chosen) + _baseline_table(baselines, plan)
    test_labels = [r["label"] for r in iter_records(data, "test")]
    majority = max(test_labels.count(x) for x in set(test_labels)) / len(test_labels)
    png = plot(table, plan, output / "enzyme_class.png", majority, title="Enzyme class (6-way) on unseen clusters: "
               "accuracy against labels per class", xlabel="labeled proteins per class", chance_label="majority class")
    columns = ["start", "labels", "mode", "mean", "low", "high", "std", "n", "validation"]
    print(format_table(table, columns))
    machine = machine_line()
    print(f"machine: {machine}")
    pretraining = {arch: dataclasses.asdict(run) | {"model_dir": str(run.model_dir)} for arch, run in runs.items()}
    (output / "results.json").write_text(json.dumps({"plan": dataclasses.asdict(plan), "runs": rows,
                                                     "baselines": baselines, "table": table, "machine": machine,
                                                     "minutes": minutes_taken, "pretraining": pretraining}, indent=2))
    bert, bilstm = runs["bert"], runs["bilstm"]
    report = [
        "# warmstart demo --proteins: enzyme class from few labels, on clusters unseen in training",
        "",
        f"{minutes_taken:.1f} minutes on this machine. Test accuracy on {len(test_labels):,} proteins of the held-out "
        f"30%-identity clusters (majority class {majority:.3f}, 6 classes), mean over {plan.seeds} seeds with a 95% "
        "Student-t interval. `labels` is labeled proteins per class. Our pre-training used only the training "
        "clusters' sequences. For the starts, the mode (fine-tune or a linear probe of mean-pooled states) is the one "
        "with the higher mean validation accuracy; the baselines have no mode to choose.",
        "",
        markdown_table(table, columns),
        "",
        f"![enzyme class]({png.name})",
        "",
        f"Pre-training (MLM, 15%, random crops of {plan.max_length} residues): BERT {bert.steps} steps, "
        f"{bert.tokens:,} tokens, validation MLM accuracy {bert.validation.get('mlm_accuracy', float('nan')):.3f}; "
        f"BiLSTM {bilstm.steps} steps, {bilstm.tokens:,} tokens, validation MLM accuracy "
        f"{bilstm.validation.get('mlm_accuracy', float('nan')):.3f} (a uniform guess over 20 amino acids: 0.05).",
        "",
        f"Machine: {machine}; BERT {bert.speed()}; BiLSTM {bilstm.speed()}.",
    ]
    (output / "report.md").write_text("\n".join(report) + "\n", encoding="utf-8")
    print(f"\nprotein demo finished in {minutes_taken:.1f} minutes: {output / 'report.md'}, {png}")
    return {"table": table, "rows": rows, "baselines": baselines, "report": output / "report.md", "plot": png}
