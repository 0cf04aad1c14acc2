"""Enzyme class from few labels against pre-training minutes: how far does more CPU time move our start?

The protein demo's small BERT (hidden 256, 4 layers; MLM 15%, random crops of 256 residues, lr 1e-3, batch 16)
is pre-trained on the enzyme-class corpus (the training clusters, no labels) for each budget in ``--minutes``,
each its own run with its own schedule. Every pre-trained encoder, and a randomly initialised one (a new one
per seed), is then read by a linear probe of mean-pooled states (the mode the demo chose on validation at
every budget) at 10 / 50 / 200 labels per class, 3 seeds, the labeled draws fine-tuning makes; the probe's L2
strength is chosen on the validation clusters. Composition + logistic regression on the same draws for
reference. One more lever beside time: a second, span-contrastive stage (objectives/contrastive.py; the two
halves of a protein must find each other among the batch's proteins, MLM on the halves too) continuing the
``--contrastive-from`` run for ``--contrastive-minutes`` (the text demo's BiLSTM stage: batch 64, lr 1e-3,
constant; batches of proteins of similar length). And one more objective: ``--groups-minutes`` pre-trains from
random init with group-contrastive learning on homologs (objectives/contrastive.py: two proteins of one MMseqs2
cluster of the corpus, found without labels, must find each other among the batch's 32 pairs), with MLM on its
rows and without. Nothing here is chosen on the test clusters: every row is reported.

    .venv/bin/python bench/protein_budget.py --minutes 5 15 40   # ~90 minutes on 2 cores
    .venv/bin/python bench/protein_budget.py --minutes --contrastive-minutes 0 --groups-minutes 15  # ~45
    .venv/bin/python bench/protein_budget.py --minutes --contrastive-minutes 0 --groups-minutes 40 \
        --groups-variants homologs --groups-set training.batch_size=128 --tag homologs-40min   # ~50
    .venv/bin/python bench/protein_budget.py --quick             # every path, seconds of pre-training

The report goes to ``bench/results/<machine kind>/protein-budget[-TAG].md`` with a PNG beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import time
from pathlib import Path

import numpy as np

from common import machine, machine_kind, markdown_table

RESULTS = Path(__file__).resolve().parent / "results"
BUDGETS = (10, 50, 200)
SEEDS = 3
MAX_LENGTH = 256
# NOTE: batches grouped by length (not the contrastive task's default): a protein's two halves must then be
# told from proteins of its own length, so length alone cannot match them.
CONTRASTIVE = ["objective.sentence_task=contrastive", "masking.probability=0.15", "optimizer.lr=1e-3",
               "optimizer.warmup=0.0", "optimizer.schedule=constant", "training.batch_size=64", "crop=random",
               "group_by_length=true"]
# NOTE: each protein's MMseqs2 cluster (30% identity, 80% coverage; the recipe's `cluster` field) is its group;
# 32 pairs per batch; the rate of the throwaway trial that first showed a gain on validation; one pair per
# cluster an epoch, as the recorded runs drew them
GROUPS = ["objective.sentence_task=group_contrastive", "masking.probability=0.15", "optimizer.lr=5e-4",
          "optimizer.warmup=0.05", "training.batch_size=64", "crop=random", "objective.pairs_per_group=1"]
GROUP_VARIANTS = {"homologs": [], "homologs-nomlm": ["objective.mlm=false"]}


def _shards(out: Path, quick: bool, group_field: str | None = None) -> tuple[Path, Path, Path]:
    from warmstart.datasets import fetch
    from warmstart.sequence_demo import sequence_shards

    data = fetch("enzyme-class", ensure_installed=True)
    tokenizer, shards = out / "tokenizer", out / ("shards-grouped" if group_field else "shards")
    seq_len = 64 if quick else MAX_LENGTH
    index = shards / "index.json"
    found = json.loads(index.read_text()) if index.is_file() else None
    if found and found["seq_len"] != seq_len:
        raise SystemExit(f"{shards} holds rows of another length than {seq_len}; choose another --out")
    if found and group_field and (found.get("groups") or {}).get("split_by") != "whole groups":
        found = None  # prepared before validation held out whole clusters: prepare again
    if found is None:
        sequence_shards(data / "corpus.jsonl", "protein", tokenizer, shards, seq_len, group_field)
    return data, tokenizer, shards


def _probe_rows(name: str, spec: dict, data: Path, out: Path, budgets: tuple[int, ...], seeds: int,
                max_length: int) -> list[dict]:
    """Linear-probe accuracy of one start at every budget and seed (validation and test)."""
    from warmstart.config import load_config
    from warmstart.data.tasks import load_task_data
    from warmstart.demo import Features, probe_run
    from warmstart.training.finetune import resolve_start

    rows, features = [], None
    for budget in budgets:
        job = load_config("finetune", None, {
            "train": str(data / "train.jsonl"), "validation": str(data / "validation.jsonl"),
            "test": str(data / "test.jsonl"), "init": spec["init"], "tokenizer": spec.get("tokenizer"),
            "output": str(out / "probe" / name), "labels_per_class": budget, "max_length": max_length,
        }, [*spec.get("model", []), "training.progress=false"])
        start = resolve_start(job)
        features = features or Features(start, max_length)
        for seed in range(seeds):
            result = probe_run(features, load_task_data(job, start.tokenizer, seed), seed, job.columns.text)
            rows.append({"start": name, "labels": budget, "seed": seed, **result})
            print(f"  {name:<12} {budget:>4} per class, seed {seed}: validation {result['validation_accuracy']:.3f}, "
                  f"test {result['test_accuracy']:.3f}", flush=True)
    return rows


def _point(ax, table: list[dict], name: str, budget: int, x: float, marker: str, colour: str, label: str) -> None:
    """One run's mean test accuracy at one label budget, with its interval, at ``x`` minutes."""
    row = next(r for r in table if r["start"] == name and r["labels"] == budget)
    ax.errorbar([x], [row["mean"]], yerr=[[row["mean"] - row["low"]], [row["high"] - row["mean"]]], marker=marker,
                capsize=3, color=colour, linestyle="none", label=label)


def _plot(table: list[dict], minutes: list[float], staged: dict[str, float], grouped: dict[str, float],
          out: Path) -> Path:
    """Accuracy of the MLM-only runs against their minutes, each two-stage run and each group-contrastive run
    as a point at its minutes, random init and composition as lines; one colour per label budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    budgets = sorted({r["labels"] for r in table})
    for budget, colour in zip(budgets, ("tab:blue", "tab:orange", "tab:green")):
        ours = [next(r for r in table if r["start"] == f"ours-{m:g}min" and r["labels"] == budget) for m in minutes]
        if ours:
            ax.errorbar(minutes, [r["mean"] for r in ours], yerr=[[r["mean"] - r["low"] for r in ours],
                        [r["high"] - r["mean"] for r in ours]], marker="o", capsize=3, color=colour,
                        label=f"ours (MLM), {budget} per class")
        for name, total in staged.items():
            _point(ax, table, name, budget, total, "s", colour, f"+ span-contrastive stage, {budget} per class")
        for start, style in (("random", "--"), ("composition", ":")):
            ref = next((r for r in table if r["start"] == start and r["labels"] == budget), None)
            if ref:
                ax.axhline(ref["mean"], linestyle=style, color=colour, linewidth=1,
                           label=f"{start}, {budget} per class")
        for name, total in grouped.items():
            nomlm = name.startswith("ours-homologs-nomlm")  # drawn a little to the right, beside its twin
            _point(ax, table, name, budget, total * (1.04 if nomlm else 1.0), "^" if nomlm else "D", colour,
                   f"{name.removeprefix('ours-')}, {budget} per class")
    ax.set_xscale("log")
    ticks = sorted({*minutes, *staged.values(), *grouped.values()})
    ax.set_xticks(ticks, [f"{m:g}" for m in ticks])
    ax.set_xlim(min(ticks) / 1.5, max(ticks) * 1.5)
    ax.minorticks_off()
    ax.set_xlabel("pre-training minutes (2-core CPU, log scale)")
    ax.set_ylabel("test accuracy (probe, 3 seeds, 95% interval)")
    ax.set_title("Enzyme class on unseen clusters: accuracy against pre-training time", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="*", default=[5.0, 15.0, 40.0],
                        help="MLM pre-training budgets, each its own run (default: 5 15 40; none: no MLM-only run)")
    parser.add_argument("--out", type=Path, default=None,
                        help="work folder; pre-trained runs found there are reused (default: runs/protein-budget, "
                             "with --quick runs/protein-budget-quick)")
    parser.add_argument("--contrastive-from", type=float, default=15.0,
                        help="the MLM budget (one of --minutes) the span-contrastive stage continues")
    parser.add_argument("--contrastive-minutes", type=float, default=10.0,
                        help="minutes of the span-contrastive stage (0: none)")
    parser.add_argument("--groups-minutes", type=float, default=0.0,
                        help="minutes of each group-contrastive run on homolog clusters, with and without MLM (0: none)")
    parser.add_argument("--groups-variants", nargs="+", choices=list(GROUP_VARIANTS), default=list(GROUP_VARIANTS),
                        help="which group-contrastive runs (default: both)")
    parser.add_argument("--groups-set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="settings over the group-contrastive runs' defaults (e.g. training.batch_size=128)")
    parser.add_argument("--tag", default="", help="written as protein-budget-TAG.md/.png beside the default report")
    parser.add_argument("--quick", action="store_true", help="seconds of pre-training, one budget, two seeds")
    parser.add_argument("--render", action="store_true", help="only write the report and plot from --out's results.json")
    args = parser.parse_args()
    args.out = args.out or Path("runs/protein-budget-quick" if args.quick else "runs/protein-budget")
    if args.render:
        render(args.out, args.quick, args.tag)
        return

    from warmstart.demo import pretrain_stage, run_summary
    from warmstart.evaluation.intervals import mean_and_interval
    from warmstart.sequence_demo import BERT_MODEL, COMMON, PRETRAINING, PROTEINS, SequencePlan, baseline_rows

    started = time.perf_counter()
    minutes = [0.1] if args.quick else sorted(args.minutes)
    budgets, seeds, max_length = ((BUDGETS[:1], 2, 64) if args.quick else (BUDGETS, SEEDS, MAX_LENGTH))
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    data, tokenizer, shards = _shards(out, args.quick)

    runs, starts = {}, {"random": {"init": "random", "tokenizer": str(tokenizer), "model": BERT_MODEL}}
    for m in minutes:
        name = f"ours-{m:g}min"
        print(f"== pre-training {name}", flush=True)
        runs[name] = run_summary(pretrain_stage(shards, out / f"pretrain-{m:g}", m, BERT_MODEL + PRETRAINING["bert"]
                                                + COMMON, args.quick, reuse=True))
        starts[name] = {"init": str(runs[name].model_dir)}
    staged = {}  # two-stage runs: name -> total minutes
    base = minutes[0] if args.quick else args.contrastive_from
    if args.contrastive_minutes > 0 and base in minutes:
        extra = 0.1 if args.quick else args.contrastive_minutes
        name = f"ours-{base:g}min+contrastive-{extra:g}min"
        print(f"== pre-training {name}", flush=True)
        runs[name] = run_summary(pretrain_stage(
            shards, out / f"pretrain-{base:g}+contrastive-{extra:g}", extra, CONTRASTIVE, args.quick,
            init_from=str(runs[f"ours-{base:g}min"].model_dir), reuse=True))
        staged[name] = base + extra
        starts[name] = {"init": str(runs[name].model_dir)}
    if args.groups_minutes > 0 or args.quick:
        grouped_shards = _shards(out, args.quick, group_field="cluster")[2]
        m = 0.1 if args.quick else args.groups_minutes
        for variant in args.groups_variants:
            name = f"ours-{variant}-{m:g}min"
            print(f"== pre-training {name}", flush=True)
            runs[name] = run_summary(pretrain_stage(grouped_shards, out / f"pretrain-{variant}-{m:g}", m, BERT_MODEL
                                                    + GROUPS + GROUP_VARIANTS[variant] + args.groups_set, args.quick,
                                                    reuse=True))
            starts[name] = {"init": str(runs[name].model_dir)}

    rows = []
    for name, spec in starts.items():
        print(f"== probes of {name}", flush=True)
        rows += _probe_rows(name, spec, data, out, budgets, seeds, max_length)
    plan = SequencePlan(bert_minutes=0, bilstm_minutes=0, budgets=budgets, seeds=seeds, max_length=max_length)
    rows += [dict(r, start="composition") for r in
             baseline_rows(dataclasses.replace(PROTEINS, baselines=("composition",)), plan, data)]

    table = []
    for name in [*starts, "composition"]:
        for budget in budgets:
            picked = [r for r in rows if r["start"] == name and r["labels"] == budget]
            run = runs.get(name)
            table.append({"start": name, "labels": budget, **mean_and_interval([r["test_accuracy"] for r in picked]),
                          "validation": float(np.mean([r["validation_accuracy"] for r in picked])),
                          "residues": run.tokens if run else None,
                          "mlm_accuracy": run.validation.get("mlm_accuracy") if run else None})
    command = (f".venv/bin/python bench/protein_budget.py"
               f"{' --quick' if args.quick else ' '.join([' --minutes', *(f'{m:g}' for m in minutes)])}"
               f"{'' if args.quick else f' --contrastive-minutes {args.contrastive_minutes:g}'}"
               f"{f' --groups-minutes {args.groups_minutes:g}' if args.groups_minutes and not args.quick else ''}"
               f"{' --groups-variants ' + ' '.join(args.groups_variants) if args.groups_variants != list(GROUP_VARIANTS) else ''}"
               f"{' --groups-set ' + ' '.join(args.groups_set) if args.groups_set else ''}"
               f"{f' --tag {args.tag}' if args.tag else ''}")
    header = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "command": command, "seeds": seeds,
              "minutes_taken": (time.perf_counter() - started) / 60}
    (out / "results.json").write_text(json.dumps({"header": header, "rows": rows, "table": table}, indent=2))
    render(out, args.quick, args.tag)


NAMED = re.compile(r"ours-(?P<base>[\d.]+)min(\+contrastive-(?P<extra>[\d.]+)min)?$")
GROUPED = re.compile(r"ours-homologs(-nomlm)?-(?P<minutes>[\d.]+)min$")


def render(out: Path, quick: bool, tag: str = "") -> Path:
    """The report and plot from ``out/results.json``: MLM-only runs by their minutes, a two-stage run at the
    sum of both stages' minutes and residues."""
    saved = json.loads((out / "results.json").read_text())
    table = saved["table"]
    by_name = {r["start"]: r for r in table}
    minutes, staged, grouped = [], {}, {}
    for name in dict.fromkeys(r["start"] for r in table):
        if found := GROUPED.match(name):
            grouped[name] = float(found["minutes"])
            continue
        match = NAMED.match(name)
        if match and match["extra"] is None:
            minutes.append(float(match["base"]))
        elif match:
            staged[name] = float(match["base"]) + float(match["extra"])
            first = by_name[f"ours-{match['base']}min"]["residues"]
            for r in table:
                if r["start"] == name and r["residues"] is not None:
                    r["residues"] += first  # results.json keeps each stage's own count
    kind, machine_line = machine_kind()
    suffix = ("-quick" if quick else "") + (f"-{tag}" if tag else "")
    folder = RESULTS / kind
    folder.mkdir(parents=True, exist_ok=True)
    png = _plot(table, sorted(minutes), staged, grouped, folder / f"protein-budget{suffix}.png")
    lines = [[r["start"], str(r["labels"]), f"{r['residues']:,}" if r["residues"] else "",
              f"{r['mlm_accuracy']:.3f}" if r["mlm_accuracy"] is not None else "", f"{r['validation']:.3f}",
              f"{r['mean']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"] for r in table]
    header = saved.get("header")
    run_line = (f"- date: {header['date']}; command: `{header['command']}`; {header['minutes_taken']:.1f} min"
                if header else f"- run: {out / 'results.json'}, written "
                f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime((out / 'results.json').stat().st_mtime))} UTC")
    seeds = header["seeds"] if header else len({r["seed"] for r in saved["rows"]})
    report = [
        "# Enzyme class from few labels against pre-training minutes", "",
        run_line,
        f"- machine: {machine_line}; {', '.join(f'{k} {v}' for k, v in machine().items())}",
        f"- data: enzyme-class (Swiss-Prot 2014 via metastudent-data, 30%-identity clusters); test = the held-out "
        f"test clusters; {seeds} seeds (labeled draws; random init: a new encoder per seed); linear probe of "
        "mean-pooled states, L2 chosen on validation; residues: both stages for a two-stage run", "",
        markdown_table(["start", "labels per class", "residues pre-trained", "validation MLM accuracy",
                        "validation accuracy", "test accuracy [95% interval]"], lines), "",
        f"![accuracy against pre-training minutes]({png.name})",
    ]
    path = folder / f"protein-budget{suffix}.md"
    path.write_text("\n".join(report) + "\n")
    print("\n".join(report))
    return path


if __name__ == "__main__":
    main()
