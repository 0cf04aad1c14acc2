"""Image fine-tuning: beats chance on a separable set, from random or pre-trained weights, linear probe,
label budgets per class, reports like the text path, and bad starts or labels named."""

from __future__ import annotations

import json

import numpy as np
import pytest
from image_sets import tiny_training

from warmstart.errors import InputError
from warmstart.config import ImageFinetuneJob, ImageModelSettings, ImagePretrainJob, ImageSettings
from warmstart.data.label_budget import take_per_class
from warmstart.training.image_finetune import finetune_images
from warmstart.evaluation.image_predict import classify, load_classifier
from warmstart.training.image_pretrain import pretrain_images
from warmstart.images.readers import read_source
from warmstart.training.optim import Budget, OptimizerConfig

RESNET = ImageModelSettings(arch="resnet", base_width=8, num_stages=2, blocks_per_stage=1)
VIT = ImageModelSettings(arch="vit", patch_size=2, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1,
                         decoder_num_attention_heads=2)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, bars_npz):
    """model/ folders of a short denoising and a short MAE run."""
    root = tmp_path_factory.mktemp("pretrained")
    out = {}
    for objective, model in (("denoise", RESNET), ("mae", VIT)):
        pretrain_images(ImagePretrainJob(data=[str(bars_npz)], output=str(root / objective), objective=objective,
                                         model=model, validation=32, pictures=0, budget=Budget(steps=20),
                                         optimizer=OptimizerConfig(lr=3e-3), training=tiny_training(eval_every=20)))
        out[objective] = root / objective / "model"
    return out


def job(train, output, **overrides) -> ImageFinetuneJob:
    values = dict(train=str(train), output=str(output), model=RESNET, epochs=30, evaluations=3,
                  optimizer=OptimizerConfig(lr=3e-3, warmup=0.1),
                  training=tiny_training(eval_every=0, eval_batches=0, checkpoint_every=0, eval_batch_size=64))
    return ImageFinetuneJob(**{**values, **overrides})


def test_random_init_beats_chance_and_reports_like_the_text_path(tmp_path, bars_npz, bars_test_npz):
    summary = finetune_images(job(bars_npz, tmp_path / "run", test=str(bars_test_npz), labels_per_class=20))
    run = tmp_path / "run"
    report = json.loads((run / "metrics.json").read_text())
    assert report["test"]["accuracy"] > 0.8, report  # chance: 1/3
    assert set(report["test"]) >= {"accuracy", "macro_f1", "mcc"} and report["train_images"] == 60
    assert (run / "confusion.png").is_file() and (run / "best" / "model.safetensors").is_file()
    rows = (run / "predictions-test.jsonl").read_text().splitlines()
    assert len(rows) == 150 and set(json.loads(rows[0])) == {"label", "prediction", "probability"}
    assert summary.aggregate["test"]["accuracy"]["mean"] == pytest.approx(report["test"]["accuracy"])
    # the kept classifier runs on its own, with the preprocessing it recorded
    classifier = load_classifier(run / "best")
    test = read_source(str(bars_test_npz), ImageSettings(), labeled=True)
    predicted = classify(classifier, test.pixels).argmax(-1)
    assert (predicted == test.labels).mean() == pytest.approx(report["test"]["accuracy"])
    with pytest.raises(InputError, match="this model takes"):
        classify(classifier, np.zeros((1, 3, 8, 8), dtype=np.uint8))


@pytest.mark.parametrize("objective,freeze", [("denoise", "head_only"), ("denoise", "none"), ("mae", "none")])
def test_pretrained_starts_fine_tune_and_linear_probe(tmp_path, bars_npz, pretrained, objective, freeze):
    lr = 3e-2 if freeze == "head_only" else 3e-3  # a linear probe wants a larger step than the whole network
    result = finetune_images(job(bars_npz, tmp_path / "run", init=str(pretrained[objective]), freeze=freeze,
                                 labels_per_class=20, epochs=40, optimizer=OptimizerConfig(lr=lr, warmup=0.1)))
    assert result.runs[0].validation["accuracy"] > 0.6  # chance: 1/3
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert report["start"].startswith("pre-trained") and report["freeze"] == freeze


def test_label_budget_is_per_class_seeded_and_stratified():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 3)
    rows = take_per_class(labels, 5, seed=0)
    assert np.bincount(labels[rows]).tolist() == [5, 5, 3]  # a class smaller than the budget keeps all
    assert not np.array_equal(rows, take_per_class(labels, 5, seed=1))
    assert np.array_equal(rows, take_per_class(labels, 5, seed=0))


def test_several_seeds_write_a_summary(tmp_path, bars_npz):
    finetune_images(job(bars_npz, tmp_path / "run", labels_per_class=4, seeds=2, epochs=2))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert [r["seed"] for r in summary["runs"]] == [0, 1] and summary["aggregate"]["validation"]["accuracy"]["n"] == 2
    assert (tmp_path / "run" / "seed-1" / "metrics.json").is_file()


def test_bad_starts_and_labels_are_named(tmp_path, bars_npz, pretrained):
    other = tmp_path / "other.npz"
    images = np.zeros((6, 8, 8), dtype=np.uint8)
    np.savez(other, x=images, y=np.array([0, 1, 2, 7, 7, 7]))
    with pytest.raises(InputError, match=r"classes \['7'\] do not occur in the training images"):
        finetune_images(job(bars_npz, tmp_path / "a", test=str(other)))
    with pytest.raises(InputError, match="trained on 8x8 images"):
        finetune_images(job(bars_npz, tmp_path / "b", init=str(pretrained["denoise"]), images=ImageSettings(size=12)))
    with pytest.raises(InputError, match="pre-trained with; leave them unset"):
        finetune_images(job(bars_npz, tmp_path / "b", init=str(pretrained["denoise"]),
                            images=ImageSettings(mean=[0.9], std=[0.1])))
    with pytest.raises(InputError, match="no meta.json"):
        finetune_images(job(bars_npz, tmp_path / "c", init=str(tmp_path)))
    unlabeled = tmp_path / "flat.npy"
    np.save(unlabeled, images)
    with pytest.raises(InputError, match="holds no labels"):
        finetune_images(job(unlabeled, tmp_path / "d"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "d").exists()  # nothing written before the checks
