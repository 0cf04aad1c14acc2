"""`warmstart images finetune` as a function: an image encoder + labeled images -> a classifier, per seed.

Starts from a pre-trained image checkpoint (``RUN/model`` of `warmstart images pretrain`: its
preprocessing is reused, never re-measured) or random weights (the control); adds a linear head on
the pooled representation; freezes what the policy says (``head_only`` is a linear probe); keeps
a label budget of N images per class (seeded, so each seed sees another sample); trains with the
one ``Trainer``, validating ``evaluations`` times and keeping the best weights in ``best/``; then
reports accuracy, macro-F1 and MCC on validation and test, a confusion-matrix PNG, predictions and
``metrics.json``: the run itself is ``training.task_run``, the one every modality shares. ``seeds > 1``
repeats the run and adds ``summary.json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from warmstart import checkpoint as ckpt
from warmstart.config import ImageFinetuneJob, to_dict
from warmstart.data.label_budget import take_per_class
from warmstart.errors import InputError
from warmstart.evaluation.image_predict import image_scores
from warmstart.images.readers import ImageSet, load_images
from warmstart.images.rows import LabeledImageRows
from warmstart.images.transforms import channel_stats, preprocessing
from warmstart.models.registry import get_architecture
from warmstart.objectives.image_classification import ImageClassificationObjective
from warmstart.training.image_pretrain import build_image_config
from warmstart.training.run import FinetuneSummary, RunResult, run_seeds
from warmstart.evaluation.scores import SplitScores
from warmstart.training.task_run import Schedule, TaskRun, run_task, task_model

_VALIDATION_SEED = 12345  # the held-out validation images are the same for every seed and start


@dataclass
class ImageStart:
    arch: str
    config: Any | None  # None until the data's shape is known (random init)
    state_dict: dict[str, torch.Tensor] | None  # None: random init
    preprocessing: dict[str, Any] | None  # the checkpoint's; None: measured on the training images
    description: str


def resolve_image_start(job: ImageFinetuneJob) -> ImageStart:
    if job.init == "random":
        return ImageStart(job.model.arch, None, None, None, "random init")
    folder = Path(job.init)
    ckpt.read_meta(folder)
    arch, config, section = ckpt.read_model_config(folder)
    if get_architecture(arch).modality != "image" or "image" not in section:
        raise InputError(f"image-finetune.init={folder} is a {arch} ({get_architecture(arch).modality}) checkpoint; "
                         "pass the model/ folder of `warmstart images pretrain`")
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(folder / "model.safetensors"))
    except (OSError, SafetensorError) as error:
        raise InputError(f"{folder}/model.safetensors: cannot read weights ({error})") from error
    return ImageStart(arch, config, state, dict(section["image"]), f"pre-trained {arch} {folder}")


# ---- data -----------------------------------------------------------------------------------


@dataclass
class ImageTaskData:
    train: ImageSet
    validation: ImageSet
    test: ImageSet | None
    class_names: list[str]
    mean: list[float]
    std: list[float]


def _relabel(found: ImageSet, names: list[str], train_source: str) -> ImageSet:
    """Map ``found``'s class ids onto the training set's class names."""
    assert found.labels is not None and found.class_names is not None
    unknown = sorted(set(found.class_names) - set(names))
    if unknown:
        raise InputError(f"{found.source}: classes {unknown} do not occur in the training images {train_source} "
                         f"(its classes: {names})")
    index = np.array([names.index(n) for n in found.class_names], dtype=np.int64)
    found.labels = index[found.labels]
    found.class_names = list(names)
    return found


def _subset(found: ImageSet, rows: np.ndarray, source: str) -> ImageSet:
    assert found.labels is not None
    return ImageSet(found.pixels[rows], found.labels[rows], found.class_names, source)


def load_image_task_data(job: ImageFinetuneJob, start: ImageStart) -> ImageTaskData:
    settings = job.images
    if start.preprocessing is not None:  # the checkpoint decides channels and size
        prep = start.preprocessing
        if settings.size is not None and settings.size != prep["image_size"]:
            raise InputError(f"images.size={settings.size} but the checkpoint {job.init} was trained on "
                             f"{prep['image_size']}x{prep['image_size']} images; leave images.size unset")
        settings = dataclasses.replace(settings, channels=prep["channels"], size=prep["image_size"])
    train = load_images([job.train], settings, labeled=True)
    names = list(train.class_names or [])
    if len(names) < 2:
        raise InputError(f"{job.train}: one class only ({names}); classification needs at least 2")
    if job.validation:
        validation = _relabel(load_images([job.validation], settings, labeled=True), names, job.train)
    else:
        order = np.random.default_rng(_VALIDATION_SEED).permutation(len(train))
        cut = max(1, int(round(len(train) * job.validation_share)))
        validation = _subset(train, np.sort(order[:cut]), f"{train.source} (held out)")
        train = _subset(train, np.sort(order[cut:]), train.source)
    test = _relabel(load_images([job.test], settings, labeled=True), names, job.train) if job.test else None
    if start.preprocessing is not None:
        mean, std = list(start.preprocessing["mean"]), list(start.preprocessing["std"])
        if settings.mean is not None and (not np.allclose(settings.mean, mean) or not np.allclose(settings.std, std)):
            # the encoder learned its features on pixels normalised this way: other statistics shift every input
            raise InputError(f"images.mean={list(settings.mean)} / images.std={list(settings.std)} differ from the "
                             f"{mean} / {std} the checkpoint {job.init} was pre-trained with; leave them unset")
    elif settings.mean is not None:
        mean, std = list(settings.mean), list(settings.std or [])
    else:  # every training image (their labels unused), so the same for each seed and budget
        mean, std = channel_stats(train.pixels)
    if len(mean) != train.channels:
        raise InputError(f"images.mean has {len(mean)} values for {train.channels}-channel images")
    return ImageTaskData(train, validation, test, names, mean, std)


# ---- one run ----------------------------------------------------------------------------------


def save_image_classifier(path: Path, model, arch: str, config: Any, prep: dict[str, Any], names: list[str],
                          job: ImageFinetuneJob, meta: dict[str, Any]) -> None:
    ckpt.save_checkpoint(path, model, arch, config, {"kind": "finetuned", **meta},
                         config_extra={"task": "image_classification", "labels": names, "num_labels": len(names),
                                       "image": prep},
                         files={"image_finetune_job.json": to_dict(job)})


def finetune_images_once(job: ImageFinetuneJob, seed: int, output: Path, start: ImageStart, data: ImageTaskData,
                         progress: bool = True) -> RunResult:
    rows = take_per_class(data.train.labels, job.labels_per_class, seed)  # type: ignore[arg-type]
    pixels, labels = data.train.pixels[rows], data.train.labels[rows]  # type: ignore[index]
    if progress:
        counts = np.bincount(labels, minlength=len(data.class_names))
        print(f"  train: {len(rows):,} labeled images ({', '.join(f'{n} {c}' for n, c in zip(data.class_names, counts))})")
    config = start.config or build_image_config(job.model, data.train.channels, data.train.size)
    prep = preprocessing(data.train.channels, data.train.size[0], data.mean, data.std)
    model = task_model(start.arch, config, "classification", len(data.class_names), start.state_dict, job.freeze,
                       job.freeze_layers, seed, progress)
    settings = dataclasses.replace(job.training, seed=seed, progress=progress and job.training.progress)
    if len(rows) < settings.batch_size:  # a tiny budget: one batch is all of it
        step = settings.accumulation
        settings = dataclasses.replace(settings, batch_size=max(step, len(rows) // step * step))
    splits = {"validation": data.validation, **({"test": data.test} if data.test is not None else {})}

    def score(model_, split: str, precision: str) -> SplitScores:
        found = splits[split]
        return image_scores(model_, found.pixels, found.labels, data.mean, data.std, data.class_names, precision,
                            settings.eval_batch_size)

    def save(folder: Path, model_, meta: dict[str, Any]) -> None:
        save_image_classifier(folder, model_, start.arch, config, prep, data.class_names, job, meta)

    report = {"start": start.description, "freeze": job.freeze, "labels_per_class": job.labels_per_class,
              "train_images": int(len(rows))}
    schedule = Schedule(job.epochs, job.budget, job.evaluations, early_stopping=job.early_stopping)
    return run_task(TaskRun(model, ImageClassificationObjective(),
                            LabeledImageRows(pixels, labels, data.mean, data.std, job.augment, seed),
                            len(rows) // settings.batch_size, settings, job.optimizer, schedule, ("accuracy", "max"),
                            score, tuple(splits), save, data.class_names, report=report, unit="images"),
                    seed, output)


def finetune_images(job: ImageFinetuneJob, progress: bool = True) -> FinetuneSummary:
    # NOTE: the start and every image source are read and checked before anything is written.
    start = resolve_image_start(job)
    data = load_image_task_data(job, start)
    return run_seeds(job, "image-finetune", start.description,
                     lambda k, seed, folder: finetune_images_once(job, seed, folder, start, data, progress), progress)
