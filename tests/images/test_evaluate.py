"""`warmstart evaluate` on an image classifier: the fine-tuning run's test scores again, files like the text path."""

from __future__ import annotations

import json

import numpy as np
import pytest
from image_sets import tiny_training

from warmstart.cli import main
from warmstart.errors import InputError
from warmstart.config import ImageFinetuneJob, ImageModelSettings
from warmstart.evaluation.image_evaluate import default_output, evaluate_image_classifier
from warmstart.training.image_finetune import finetune_images
from warmstart.training.optim import OptimizerConfig


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, bars_npz, bars_test_npz):
    run = tmp_path_factory.mktemp("image-eval") / "run"
    finetune_images(ImageFinetuneJob(
        train=str(bars_npz), test=str(bars_test_npz), output=str(run), labels_per_class=20, epochs=20, evaluations=2,
        model=ImageModelSettings(arch="resnet", base_width=8, num_stages=2, blocks_per_stage=1),
        optimizer=OptimizerConfig(lr=3e-3, warmup=0.1),
        training=tiny_training(eval_every=0, eval_batches=0, checkpoint_every=0, eval_batch_size=64)), progress=False)
    return run


def test_evaluate_cli_repeats_the_test_scores(tmp_path, classifier, bars_test_npz, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", str(classifier / "best"), "--data", str(bars_test_npz), "-o", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    trained = json.loads((classifier / "metrics.json").read_text())["test"]
    for key in ("accuracy", "macro_f1", "mcc"):
        assert metrics[key] == pytest.approx(trained[key]), key
    assert metrics["examples"] == 150 and metrics["task"] == "image_classification"
    assert (out / "confusion.png").stat().st_size > 1000
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 150
    assert "accuracy" in capsys.readouterr().out


def test_evaluate_names_unknown_classes_and_a_safe_default_folder(tmp_path, classifier):
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros((4, 8, 8), dtype=np.uint8), y=np.array([0, 1, 9, 9]))
    with pytest.raises(InputError, match=r"classes \['9'\] are not among the model's labels"):
        evaluate_image_classifier(classifier / "best", str(other), tmp_path / "e")
    assert default_output(classifier / "best", "dataset:fashion-mnist:test").name == "eval-fashion-mnist-test"
