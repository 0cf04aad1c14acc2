"""`warmstart demo --images`: what pre-training on unlabeled images buys, measured on Fashion-MNIST.

The data-hunger curve for images: pre-train on the 60,000 training images without their labels,
then fine-tune with 10 / 100 / 1,000 labels per class and test on the 10,000 test images, from
four starts, several seeds each:

(a) random init of the CNN — the control for (b);
(b) the same CNN pre-trained as a denoising autoencoder (Vincent et al. 2008);
(c) random init of the ViT — the control for (d);
(d) the same ViT pre-trained as a masked autoencoder (He et al. 2022).

Each pre-trained start is tried both as a linear probe (frozen encoder, Alain & Bengio 2017) and
fully fine-tuned; for every start and label budget the mode with the higher mean *validation*
accuracy is reported. Validation images (held out of the training images, the same for every run)
also pick the best epoch; the test images are only ever used for the final numbers. Writes
``report.md``, ``data_hunger.png``, the last reconstruction grids of both pre-training runs and
``results.json``, and prints the table.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from warmstart.config import load_config
from warmstart.evaluation.intervals import mean_and_interval
from warmstart.evaluation.reporting import format_table, markdown_table
from warmstart.images.fashion_mnist import locate
from warmstart.images.readers import ImageSet
from warmstart.training.image_finetune import finetune_images_once, load_image_task_data, resolve_image_start
from warmstart.training.image_pretrain import pretrain_images


@dataclass(frozen=True)
class ImageDemoPlan:
    pretrain_minutes: float  # each of the two pre-training runs
    budgets: tuple[int, ...]  # labels per class
    seeds: int
    validation_images: int  # labeled images held out of the training images: mode and epoch selection
    test_images: int | None  # None: all 10,000
    epochs: dict[int, float]  # per label budget; small budgets see more passes
    probe: bool = True  # also try a linear probe of each pre-trained start
    workers: int = 2  # processes, one torch thread each (the two pre-training runs also run side by side)

    @classmethod
    def full(cls, minutes: float | None = None) -> "ImageDemoPlan":
        # NOTE: --budgets 10,100,1000 adds about 20 minutes on the shared 2-core machine (ViT runs dominate)
        return cls(pretrain_minutes=minutes or 3.0, budgets=(10, 100), seeds=3, validation_images=1000,
                   test_images=None, epochs={10: 30.0, 100: 20.0, 1000: 2.0})

    @classmethod
    def quick(cls, minutes: float | None = None) -> "ImageDemoPlan":
        return cls(pretrain_minutes=minutes or 0.2, budgets=(10,), seeds=2, validation_images=300, test_images=1000,
                   epochs={10: 10.0})

    def epochs_for(self, budget: int) -> float:
        return self.epochs.get(budget, 2.0)


# The two pre-training runs: recipes/fashion-mnist/pretrain-{dae,mae}.yaml with the demo's budget (the
# settings are repeated here so an installed package needs no recipe files); levers were chosen on
# validation figures only (docs/experiments.md lists the attempts). NOTE: pinned to fp32, not auto: the demo's
# figures were measured in fp32, and whether bf16 changes its reconstructions or accuracies is unmeasured.
PRETRAIN_COMMON = ["validation=2000", "pictures=8", "optimizer.weight_decay=0.05", "optimizer.warmup=0.05",
                   "optimizer.schedule=cosine", "training.batch_size=128", "training.precision=fp32",
                   "training.eval_every=100", "training.eval_batches=8", "training.eval_batch_size=250",
                   "training.checkpoint_every=0"]
DAE = ["objective=denoise", "loss=mse", "model.arch=resnet", "model.base_width=16", "model.num_stages=3",
       "model.blocks_per_stage=1", "model.norm=batch", "corruption.gaussian_std=0.3", "corruption.salt_pepper=0.0",
       "corruption.erase_blocks=1", "corruption.erase_size=0.3", "optimizer.lr=0.002", *PRETRAIN_COMMON]
MAE = ["objective=mae", "model.arch=vit", "model.patch_size=4", "model.hidden_size=96", "model.num_hidden_layers=4",
       "model.num_attention_heads=4", "model.intermediate_size=384", "model.decoder_hidden_size=64",
       "model.decoder_num_hidden_layers=2", "model.decoder_num_attention_heads=4", "masking.mask_ratio=0.75",
       "masking.norm_pix_loss=true", "optimizer.lr=0.0015", "optimizer.betas=[0.9,0.95]", *PRETRAIN_COMMON]
# random init gets the same shapes. BatchNorm, not the GroupNorm default: on validation it lifted both the
# random and the DAE CNN (10 labels/class: 0.585 -> 0.611 random; 100: 0.647 -> 0.708; docs/experiments.md).
SHAPES = {"resnet": ["model.base_width=16", "model.num_stages=3", "model.blocks_per_stage=1", "model.norm=batch"],
          "vit": ["model.patch_size=4", "model.hidden_size=96", "model.num_hidden_layers=4",
                  "model.num_attention_heads=4", "model.intermediate_size=384"]}
# fine-tuning learning rate per mode: a frozen encoder's linear head wants a larger step
LR = {"full": 1e-3, "probe": 1e-2}
STARTS = ("random CNN", "DAE CNN", "random ViT", "MAE ViT")  # report order; controls first


def _banner(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _pretrain(settings: list[str], out: Path, minutes: float, reuse: bool) -> dict[str, Any]:
    model = out / "model"
    if reuse and (model / "meta.json").is_file():
        meta = json.loads((model / "meta.json").read_text(encoding="utf-8"))
        return {"model": model, "steps": meta.get("step"), "images": meta.get("images_seen"),
                "validation": meta.get("validation") or {}, "picture": _last_picture(out)}
    if out.exists():
        shutil.rmtree(out)
    job = load_config("image-pretrain", None, {"data": ["dataset:fashion-mnist:train"], "output": str(out)},
                      [*settings, f"budget.minutes={minutes}", "training.progress=false"])
    summary = pretrain_images(job)
    return {"model": summary.model_dir, "steps": summary.result.steps, "images": summary.result.tokens,
            "validation": summary.result.last_validation, "picture": summary.pictures, "text": summary.text()}


def _last_picture(out: Path) -> Path | None:
    pictures = sorted((out / "pictures").glob("step-*.png"))
    return pictures[-1] if pictures else None


@dataclass(frozen=True)
class FinetuneTask:
    """One fine-tuning run of the grid, as plain values a worker process can receive."""

    start: str  # report name, e.g. "DAE CNN"
    init: str  # "random" or a model/ folder
    arch: str
    mode: str  # full | probe
    budget: int  # labels per class
    seed: int
    epochs: float
    validation_images: int
    test_images: int | None
    output: str


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)  # see run_image_demo


@functools.lru_cache(maxsize=4)
def _task_data(init: str, arch: str, validation_images: int, test_images: int | None):
    """Images of one start, read once per worker process: (start, data)."""

    job = _job(FinetuneTask("", init, arch, "full", 10, 0, 1.0, validation_images, test_images, "unused"))
    start = resolve_image_start(job)
    data = load_image_task_data(job, start)
    if test_images is not None and data.test is not None:  # a fixed random subset, the same for every start
        keep = np.sort(np.random.default_rng(0).permutation(len(data.test))[:test_images])
        data.test = ImageSet(data.test.pixels[keep], data.test.labels[keep], data.test.class_names, data.test.source)
    return start, data


def _job(task: FinetuneTask):
    batch = max(8, min(64, 10 * task.budget // 8))  # >= 8 steps per epoch at tiny budgets
    return load_config("image-finetune", None, {
        "train": "dataset:fashion-mnist:train", "test": "dataset:fashion-mnist:test", "init": task.init,
        "labels_per_class": task.budget, "freeze": "head_only" if task.mode == "probe" else "none",
        "epochs": task.epochs, "output": task.output, "validation_share": task.validation_images / 60_000,
        "evaluations": 4,
    }, [f"model.arch={task.arch}", *(SHAPES[task.arch] if task.init == "random" else []),
        f"optimizer.lr={LR[task.mode]}", "optimizer.warmup=0.1", "optimizer.weight_decay=0.05",
        f"training.batch_size={batch}", "training.eval_batch_size=500", "training.progress=false",
        "training.log_every=50"])


def _run_task(task: FinetuneTask) -> dict:
    """One fine-tuning run (in a worker process) -> its row of results."""

    start, data = _task_data(task.init, task.arch, task.validation_images, task.test_images)
    result = finetune_images_once(_job(task), task.seed, Path(task.output) / f"seed-{task.seed}", start, data,
                                  progress=False)
    assert result.test is not None
    return {"start": task.start, "mode": task.mode, "labels_per_class": task.budget, "seed": task.seed,
            "validation_accuracy": result.validation["accuracy"], "test_accuracy": result.test["accuracy"],
            "test_macro_f1": result.test["macro_f1"], "steps": result.steps, "seconds": result.seconds}


def _pool(workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: a fresh interpreter per worker, no forked torch thread pools
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init)


def _grid(plan: ImageDemoPlan, starts: dict[str, dict], output: Path) -> list[dict]:
    """Every start x mode x budget x seed, on ``plan.workers`` processes; one row per run."""
    from concurrent.futures import as_completed

    tasks = [FinetuneTask(name, spec["init"], spec["arch"], mode, budget, seed, plan.epochs_for(budget),
                          plan.validation_images, plan.test_images,
                          str(output / name.replace(" ", "-") / mode / str(budget)))
             for name, spec in starts.items() for mode in spec["modes"] for budget in plan.budgets
             for seed in range(plan.seeds)]

    # progress in units of work (optimizer steps x a ViT factor, plus evaluation), so the ETA holds across runs
    def cost(t: FinetuneTask) -> float:
        steps = t.epochs * (10 * t.budget) / max(8, min(64, 10 * t.budget // 8))
        return (2.0 if t.arch == "vit" else 1.0) * (0.6 if t.mode == "probe" else 1.0) * (steps + 100)

    total, done = sum(cost(t) for t in tasks), 0.0
    rows: list[dict] = []
    started = time.perf_counter()
    with _pool(plan.workers) as pool:
        futures = {pool.submit(_run_task, t): t for t in sorted(tasks, key=cost, reverse=True)}
        for i, future in enumerate(as_completed(futures)):
            task, row = futures[future], future.result()
            rows.append(row)
            done += cost(task)
            elapsed = time.perf_counter() - started
            eta = elapsed / done * (total - done)
            print(f"  [{i + 1}/{len(tasks)}] {task.start:<10} {task.mode:<5} {task.budget:>4}/class  seed {task.seed}: "
                  f"test accuracy {row['test_accuracy']:.3f} (validation {row['validation_accuracy']:.3f}, "
                  f"{row['seconds']:.0f} s)  ETA {eta / 60:.1f} min", flush=True)
    order = {(t.start, t.mode, t.budget, t.seed): k for k, t in enumerate(tasks)}
    return sorted(rows, key=lambda r: order[(r["start"], r["mode"], r["labels_per_class"], r["seed"])])


def summarize(rows: list[dict], plan: ImageDemoPlan) -> tuple[list[dict], list[dict]]:
    """(chosen, every): per start and budget the mode with the best mean validation accuracy; and all modes."""

    every = []
    for name in STARTS:
        for mode in ("full", "probe"):
            for budget in plan.budgets:
                mine = [r for r in rows if r["start"] == name and r["mode"] == mode and r["labels_per_class"] == budget]
                if not mine:
                    continue
                stats = mean_and_interval([r["test_accuracy"] for r in mine])
                every.append({"start": name, "mode": mode, "labels_per_class": budget,
                              "validation": float(np.mean([r["validation_accuracy"] for r in mine])),
                              "test": stats["mean"], "low": stats["low"], "high": stats["high"], "std": stats["std"],
                              "n": stats["n"]})
    chosen = []
    for name in STARTS:
        for budget in plan.budgets:
            options = [e for e in every if e["start"] == name and e["labels_per_class"] == budget]
            if options:
                chosen.append(max(options, key=lambda e: e["validation"]))
    return chosen, every


def plot(chosen: list[dict], plan: ImageDemoPlan, out: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    styles = {"random CNN": ("tab:blue", "--"), "DAE CNN": ("tab:blue", "-"),
              "random ViT": ("tab:orange", "--"), "MAE ViT": ("tab:orange", "-")}
    for name in STARTS:
        points = [r for r in chosen if r["start"] == name]
        if not points:
            continue
        x = [r["labels_per_class"] for r in points]
        y = [r["test"] for r in points]
        low = [r["test"] - r["low"] if not np.isnan(r["low"]) else 0 for r in points]
        high = [r["high"] - r["test"] if not np.isnan(r["high"]) else 0 for r in points]
        modes = "/".join(sorted({r["mode"] for r in points}))
        color, line = styles[name]
        ax.errorbar(x, y, yerr=[low, high], marker="o", capsize=3, color=color, linestyle=line,
                    label=f"{name} ({modes})")
    ax.axhline(0.1, color="grey", linestyle=":", label="chance (0.100)")
    ax.set_xscale("log")
    ax.set_xticks(list(plan.budgets))
    ax.set_xticklabels([str(b) for b in plan.budgets])
    ax.set_xticks([], minor=True)
    ax.set_xlabel("labeled training images per class")
    ax.set_ylabel("test accuracy (mean, 95% interval)")
    ax.set_title("Fashion-MNIST: accuracy against labels, by starting point")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    return out


def run_image_demo(output: Path, quick: bool = False, minutes: float | None = None,
                   budgets: tuple[int, ...] | None = None, reuse: bool = False) -> dict:
    """The whole image demo; ``reuse`` keeps pre-trained models already in ``output`` (fine-tuning only)."""
    import torch

    started = time.perf_counter()
    # NOTE: one intra-op thread. These convolutions and attention blocks are tiny (28x28 images, batches of
    # 12-64), so two threads mostly wait for each other; measured on the shared 2-core machine with another
    # process busy, a ResNet step on 12 images took 17 ms with one thread and 1,400 ms with two.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(output, quick, minutes, budgets, reuse, started)
    finally:
        torch.set_num_threads(threads)


def _run(output: Path, quick: bool, minutes: float | None, budgets: tuple[int, ...] | None, reuse: bool,
         started: float) -> dict:
    plan = ImageDemoPlan.quick(minutes) if quick else ImageDemoPlan.full(minutes)
    if budgets:
        plan = dataclasses.replace(plan, budgets=tuple(budgets))
    output.mkdir(parents=True, exist_ok=True)
    estimate = "about 2 minutes" if quick else "about 25 minutes"
    print(f"warmstart demo --images{' --quick' if quick else ''}: {estimate} on a 2-core CPU (one torch thread); "
          f"output in {output}")

    _banner("1/4 Fashion-MNIST from the Debian package dataset-fashion-mnist")
    print(f"  {locate()}: 60,000 training images (pre-training uses them without labels), 10,000 test images"
          f"{'' if plan.test_images is None else f' ({plan.test_images:,} of them in --quick)'}")

    _banner(f"2/4 pre-training on the unlabeled training images: DAE CNN and MAE ViT side by side, "
            f"{plan.pretrain_minutes:g} minutes each")
    quick_eval = ["training.eval_every=20", "training.eval_batches=2"] if quick else []
    with _pool(plan.workers) as pool:  # side by side, one thread each
        runs = [pool.submit(_pretrain, settings + quick_eval, output / name, plan.pretrain_minutes, reuse)
                for settings, name in ((DAE, "pretrain-dae"), (MAE, "pretrain-mae"))]
        dae, mae = (run.result() for run in runs)
    for run in (dae, mae):
        print(run.get("text") or f"  reused {run['model']}")
    pictures = {}
    for key, run in (("dae", dae), ("mae", mae)):
        if run["picture"] is not None:
            pictures[key] = output / f"reconstruction-{key}.png"
            shutil.copy(run["picture"], pictures[key])

    modes = ("full", "probe") if plan.probe else ("full",)
    starts = {
        "random CNN": {"init": "random", "arch": "resnet", "modes": ("full",)},
        "DAE CNN": {"init": str(dae["model"]), "arch": "resnet", "modes": modes},
        "random ViT": {"init": "random", "arch": "vit", "modes": ("full",)},
        "MAE ViT": {"init": str(mae["model"]), "arch": "vit", "modes": modes},
    }
    count = sum(len(s["modes"]) for s in starts.values()) * len(plan.budgets) * plan.seeds
    _banner(f"3/4 fine-tuning: {count} runs ({', '.join(map(str, plan.budgets))} labels per class x {plan.seeds} seeds; "
            "pre-trained starts both as linear probe and fully fine-tuned)")
    rows = _grid(plan, starts, output / "finetune")

    return _report(rows, plan, output, dae, mae, pictures, quick, reuse, started)


def _report(rows: list[dict], plan: ImageDemoPlan, output: Path, dae: dict, mae: dict, pictures: dict[str, Path],
            quick: bool, reuse: bool, started: float) -> dict:
    """Stage 4: modes chosen on validation, the table, the PNG, results.json and report.md."""
    _banner("4/4 report")
    chosen, every = summarize(rows, plan)
    png = plot(chosen, plan, output / "data_hunger.png")
    columns = ["start", "labels_per_class", "mode", "test", "low", "high", "std", "n", "validation"]
    print("test accuracy, mode chosen on validation accuracy:")
    print(format_table(chosen, columns))
    minutes_taken = (time.perf_counter() - started) / 60
    (output / "results.json").write_text(json.dumps({
        "plan": dataclasses.asdict(plan), "runs": rows, "chosen": chosen, "every_mode": every, "minutes": minutes_taken,
        "pretraining": {k: {"steps": v["steps"], "images": v["images"], "validation": v["validation"]}
                        for k, v in (("dae", dae), ("mae", mae))},
    }, indent=2, default=str))
    report = [
        "# warmstart demo --images: what pre-training on unlabeled images buys on Fashion-MNIST",
        "",
        f"Command: `warmstart demo --images{' --quick' if quick else ''}{' --reuse' if reuse else ''}` "
        f"({minutes_taken:.1f} minutes on this machine{'; pre-training reused from an earlier run' if reuse else ''}).",
        f"Test accuracy on {'all 10,000' if plan.test_images is None else f'{plan.test_images:,}'} Fashion-MNIST test "
        "images (chance 0.100): mean over seeds and a 95% Student-t interval. Pre-training saw the training images "
        f"only, without labels ({plan.pretrain_minutes:g} minutes each). The labeled images per class are a seeded "
        f"sample per seed; {plan.validation_images:,} other training images (with labels) pick the best epoch and, for "
        "the pre-trained starts, linear probe or full fine-tuning (the mode column).",
        "",
        markdown_table(chosen, columns),
        "",
        f"![data-hunger curve]({png.name})",
        "",
        "Every mode (the table above keeps, per start and budget, the one with the higher validation accuracy):",
        "",
        markdown_table(every, columns),
        "",
        f"Pre-training: DAE CNN {dae['steps']} steps ({dae['images']:,} images), validation reconstruction loss "
        f"{dae['validation'].get('reconstruction_loss', float('nan')):.4f}, PSNR "
        f"{dae['validation'].get('psnr', float('nan')):.2f} dB; MAE ViT {mae['steps']} steps ({mae['images']:,} images), "
        f"validation loss on masked patches {mae['validation'].get('reconstruction_loss', float('nan')):.4f}.",
        "",
        *[f"![{key} reconstructions]({path.name})" for key, path in pictures.items()],
    ]
    (output / "report.md").write_text("\n".join(report) + "\n", encoding="utf-8")
    print(f"\nimage demo finished in {minutes_taken:.1f} minutes: {output / 'report.md'}, {png}")
    return {"chosen": chosen, "every": every, "rows": rows, "report": output / "report.md", "plot": png,
            "pictures": pictures}
