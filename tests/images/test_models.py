"""Image encoders: MAE's encoder sees only visible patches, shapes, the registry, weights round trip."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from warmstart.errors import InputError
from warmstart.images.corruption import random_patch_mask
from warmstart.models.registry import build_task_model
from warmstart.models.heads import freeze, load_encoder_weights
from warmstart.models.registry import ARCHITECTURES, build_pretraining_model, config_from_dict
from warmstart.models.resnet import ResNetConfig
from warmstart.models.vit import ViTConfig, patchify, unpatchify

VIT = ViTConfig(image_size=8, patch_size=2, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1, decoder_num_attention_heads=2)
RESNET = ResNetConfig(image_size=9, base_width=8, num_stages=3, blocks_per_stage=1)


def test_mae_encoder_sees_only_the_visible_patches():
    torch.manual_seed(0)
    model = build_pretraining_model("vit", VIT).eval()
    x = torch.randn(3, 1, 8, 8)
    mask = random_patch_mask(3, VIT.num_patches, 0.75, torch.Generator().manual_seed(0))  # 16 patches, 4 visible
    hidden = model(x, mask)
    assert hidden.shape == (3, 1 + 4, 32)
    # change every hidden patch's pixels: the encoder output does not move
    patches = patchify(x, 2)
    scrambled = unpatchify(torch.where(mask[..., None], torch.randn_like(patches) * 5, patches), 2, 1)
    torch.testing.assert_close(model(scrambled, mask), hidden)
    # ... but a visible patch's pixels do move it
    shifted = unpatchify(torch.where(mask[..., None], patches, patches + 1.0), 2, 1)
    assert not torch.allclose(model(shifted, mask), hidden)
    assert model.reconstruct(hidden, mask).shape == (3, 16, 4)
    assert model(x).shape == (3, 17, 32)  # no mask: every patch


def test_mask_must_hide_the_same_number_in_each_image():
    model = build_pretraining_model("vit", VIT)
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[0, :3] = True
    with pytest.raises(ValueError, match="same number"):
        model(torch.randn(2, 1, 8, 8), mask)


def test_resnet_rebuilds_odd_sizes_and_pools():
    model = build_pretraining_model("resnet", RESNET)
    x = torch.randn(2, 1, 9, 9)
    features = model(x)
    assert features.shape == (2, 32, 3, 3)
    assert model.reconstruct(features).shape == x.shape
    assert model.pool(features).shape == (2, 32)


def test_image_architectures_are_registered_and_configs_round_trip():
    assert ARCHITECTURES["resnet"].modality == ARCHITECTURES["vit"].modality == "image"
    for arch, cfg in (("resnet", RESNET), ("vit", VIT)):
        assert config_from_dict(arch, dataclasses.asdict(cfg)) == cfg
    with pytest.raises(InputError, match="multiple of patch_size"):
        ViTConfig(image_size=10, patch_size=4)


@pytest.mark.parametrize("arch,cfg", [("resnet", RESNET), ("vit", VIT)])
def test_classifier_takes_the_pretrained_encoder_and_a_linear_probe_trains_the_head_only(arch, cfg):
    pretrained = build_pretraining_model(arch, cfg)
    classifier = build_task_model(arch, cfg, "classification", 3)
    fresh = load_encoder_weights(classifier, pretrained.state_dict())
    assert fresh == ["classifier.bias", "classifier.weight"]
    prefix = f"{arch}."
    for name, value in classifier.state_dict().items():
        if name.startswith(prefix):
            torch.testing.assert_close(value, pretrained.state_dict()[name])
    trainable = freeze(classifier, "head_only")
    assert trainable == sum(p.numel() for p in classifier.classifier.parameters())
    size = cfg.image_size
    assert classifier(torch.randn(2, 1, size, size)).shape == (2, 3)


def test_resnet_norm_setting_selects_batchnorm_and_names_a_bad_value(tmp_path, bars_npz):
    from image_sets import tiny_training

    from warmstart.config import ImageFinetuneJob, ImageModelSettings
    from warmstart.training.image_finetune import finetune_images
    from warmstart.models.resnet import ResNetModel
    from warmstart.training.optim import OptimizerConfig

    model = ResNetModel(ResNetConfig(num_channels=1, image_size=8, base_width=8, num_stages=2, norm="batch"))
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert not any(isinstance(m, torch.nn.GroupNorm) for m in model.modules())
    with pytest.raises(InputError, match="norm must be 'group' or 'batch'"):
        ResNetConfig(norm="layer")
    summary = finetune_images(ImageFinetuneJob(
        train=str(bars_npz), output=str(tmp_path / "bn"), labels_per_class=20, epochs=20, evaluations=2,
        model=ImageModelSettings(arch="resnet", base_width=8, num_stages=2, blocks_per_stage=1, norm="batch"),
        optimizer=OptimizerConfig(lr=3e-3, warmup=0.1),
        training=tiny_training(eval_every=0, eval_batches=0, checkpoint_every=0, eval_batch_size=64)), progress=False)
    assert summary.runs[0].validation["accuracy"] > 0.6  # chance: 1/3
