"""Typed settings of the image jobs: `warmstart images pretrain` and `warmstart images finetune`.

The same conventions as ``warmstart.config.settings`` (frozen dataclasses, checks in ``__post_init__`` with
a message naming the key); recipes fill them with ``command: image-pretrain`` / ``image-finetune``.
Denoising follows Vincent et al. 2008 ("Extracting and Composing Robust Features with Denoising
Autoencoders"); masked patches follow He et al. 2022 ("Masked Autoencoders Are Scalable Vision
Learners": 75% of patches hidden, per-patch normalised pixel targets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from warmstart.config.finetune_job import FREEZE_POLICIES
from warmstart.config.settings import Budget, OptimizerConfig, TrainingSettings
from warmstart.errors import ConfigError

IMAGE_ARCHS = ("resnet", "vit")
PRETRAIN_OBJECTIVES = {"denoise": ("resnet",), "mae": ("vit",)}  # objective -> architectures it trains
RECONSTRUCTION_LOSSES = ("mse", "l1")
BAD_FILE_POLICIES = ("skip", "error")


@dataclass(frozen=True)
class ImageSettings:
    """How files and arrays become tensors: channels, size, normalisation, unreadable files."""

    channels: int | None = None  # 1 (grayscale) or 3 (RGB); None: as the source holds them
    size: int | None = None  # resize every image to size x size; None: all images must share one size
    mean: list[float] | None = None  # per-channel normalisation of [0, 1] pixels; None: measured on the
    std: list[float] | None = None  # training images (a checkpoint's own values win when fine-tuning)
    on_bad_file: str = "skip"  # an unreadable or truncated image file: skip (and count) | error
    array_key: str | None = None  # .npz: the array holding images (default: the only one, or x/images/...)
    label_key: str | None = None  # .npz: the array holding labels (default: y/labels/...)

    def __post_init__(self) -> None:
        if self.channels not in (None, 1, 3):
            raise ConfigError(f"images.channels must be 1, 3 or null, got {self.channels!r}")
        if self.size is not None and self.size < 4:
            raise ConfigError(f"images.size must be >= 4 pixels, got {self.size}")
        if (self.mean is None) != (self.std is None):
            raise ConfigError("images.mean and images.std go together: give both or neither")
        if self.std is not None and (not self.std or any(s <= 0 for s in self.std)):
            raise ConfigError(f"images.std must be positive numbers, got {self.std}")
        if self.mean is not None and len(self.mean) != len(self.std or []):
            raise ConfigError(f"images.mean and images.std need one value per channel, got {self.mean} and {self.std}")
        if self.on_bad_file not in BAD_FILE_POLICIES:
            raise ConfigError(f"images.on_bad_file must be one of {BAD_FILE_POLICIES}, got {self.on_bad_file!r}")


@dataclass(frozen=True)
class AugmentSettings:
    """Fine-tuning augmentations; off by default (digits and Fashion-MNIST do not need them)."""

    crop_padding: int = 0  # pad by this many pixels, then crop back at a random offset (0: off)
    horizontal_flip: bool = False  # mirror half of the images

    def __post_init__(self) -> None:
        if self.crop_padding < 0:
            raise ConfigError(f"augment.crop_padding must be >= 0, got {self.crop_padding}")


@dataclass(frozen=True)
class CorruptionSettings:
    """Denoising corruptions, applied to [0, 1] pixels in this order; a level of 0 turns one off."""

    erase_blocks: int = 0  # square blocks set to 0 per image
    erase_size: float = 0.25  # block side as a share of the image side
    salt_pepper: float = 0.0  # share of pixels set to 0 or 1 (half each)
    gaussian_std: float = 0.3  # standard deviation of added N(0, s^2) noise, then clipped to [0, 1]

    def __post_init__(self) -> None:
        if self.erase_blocks < 0:
            raise ConfigError(f"corruption.erase_blocks must be >= 0, got {self.erase_blocks}")
        if not 0.0 < self.erase_size <= 1.0:
            raise ConfigError(f"corruption.erase_size must be in (0, 1], got {self.erase_size}")
        if not 0.0 <= self.salt_pepper < 1.0:
            raise ConfigError(f"corruption.salt_pepper must be in [0, 1), got {self.salt_pepper}")
        if self.gaussian_std < 0.0:
            raise ConfigError(f"corruption.gaussian_std must be >= 0, got {self.gaussian_std}")
        if not (self.erase_blocks or self.salt_pepper or self.gaussian_std):
            raise ConfigError("corruption: every level is 0, nothing to denoise; set gaussian_std, salt_pepper or erase_blocks")


@dataclass(frozen=True)
class MaskedPatchSettings:
    """MAE: which share of patches the encoder never sees, and what the decoder predicts."""

    mask_ratio: float = 0.75
    norm_pix_loss: bool = True  # targets are each patch's pixels normalised by its own mean and std

    def __post_init__(self) -> None:
        if not 0.0 < self.mask_ratio < 1.0:
            raise ConfigError(f"masking.mask_ratio must be in (0, 1), got {self.mask_ratio}")


@dataclass(frozen=True)
class ImageModelSettings:
    """Which image encoder to build and its shape; unset fields keep the architecture's defaults."""

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"arch": IMAGE_ARCHS}

    arch: str = "resnet"  # encoder architecture: resnet (CNN, denoising) | vit (Vision Transformer, masked patches)
    # resnet
    base_width: int | None = None  # channels of the first stage; each later stage doubles them
    num_stages: int | None = None  # stages after the first halve the resolution
    blocks_per_stage: int | None = None
    norm: str | None = None  # group (default) | batch
    # vit
    patch_size: int | None = None  # pixels per patch side
    hidden_size: int | None = None
    num_hidden_layers: int | None = None
    num_attention_heads: int | None = None
    intermediate_size: int | None = None
    decoder_hidden_size: int | None = None
    decoder_num_hidden_layers: int | None = None
    decoder_num_attention_heads: int | None = None
    dropout: float | None = None

    def __post_init__(self) -> None:
        if self.arch not in IMAGE_ARCHS:
            raise ConfigError(f"model.arch must be one of {IMAGE_ARCHS} for images, got {self.arch!r}")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")

    def shape(self) -> dict[str, int | float]:
        """The fields that are set, for the architecture's config class."""
        names = (("base_width", "num_stages", "blocks_per_stage", "norm") if self.arch == "resnet" else
                 ("patch_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                  "decoder_hidden_size", "decoder_num_hidden_layers", "decoder_num_attention_heads", "dropout"))
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


@dataclass(frozen=True)
class ImagePretrainJob:
    """`warmstart images pretrain`: unlabeled images -> a pre-trained image encoder checkpoint."""

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"objective": tuple(PRETRAIN_OBJECTIVES)}

    data: list[str] = field(default_factory=list)  # image sources: folders, .npz/.npy, IDX files, dataset:fashion-mnist
    output: str = "runs/image-pretrain"  # run folder: checkpoints, metrics.jsonl, curves.png, pictures/, model/
    objective: str = "denoise"  # denoise (arch resnet) | mae (arch vit)
    validation: float = 0.05  # held-out images: a share below 1, or a whole number of images
    loss: str = "mse"  # denoise: mse | l1 (MAE uses mse on masked patches)
    pictures: int = 8  # validation images in the PNG grid written at each validation (0: none)
    images: ImageSettings = field(default_factory=ImageSettings)
    model: ImageModelSettings = field(default_factory=ImageModelSettings)
    corruption: CorruptionSettings = field(default_factory=CorruptionSettings)
    masking: MaskedPatchSettings = field(default_factory=MaskedPatchSettings)
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-3, weight_decay=0.05))
    budget: Budget = field(default_factory=lambda: Budget(steps=1000))
    training: TrainingSettings = field(default_factory=lambda: TrainingSettings(
        batch_size=128, eval_every=200, eval_batches=8, eval_batch_size=128))

    def __post_init__(self) -> None:
        if not self.data:
            raise ConfigError("image-pretrain.data is empty: give an image folder, .npz/.npy, IDX file or dataset:fashion-mnist")
        if self.objective not in PRETRAIN_OBJECTIVES:
            raise ConfigError(f"image-pretrain.objective must be one of {tuple(PRETRAIN_OBJECTIVES)}, got {self.objective!r}")
        archs = PRETRAIN_OBJECTIVES[self.objective]
        if self.model.arch not in archs:
            raise ConfigError(
                f"image-pretrain.objective={self.objective} trains model.arch {' or '.join(archs)}, not {self.model.arch!r}"
            )
        if self.loss not in RECONSTRUCTION_LOSSES:
            raise ConfigError(f"image-pretrain.loss must be one of {RECONSTRUCTION_LOSSES}, got {self.loss!r}")
        if self.validation <= 0 or (self.validation >= 1 and self.validation != int(self.validation)):
            raise ConfigError(
                f"image-pretrain.validation must be a share in (0, 1) or a whole number of images, got {self.validation}"
            )
        if self.pictures < 0:
            raise ConfigError(f"image-pretrain.pictures must be >= 0, got {self.pictures}")


@dataclass(frozen=True)
class ImageFinetuneJob:
    """`warmstart images finetune`: a pre-trained (or random) image encoder + labeled images -> a classifier."""

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"freeze": FREEZE_POLICIES}

    # labeled training images: class subfolders, .npz with labels, IDX images (labels beside), dataset:...
    train: str = ""
    # labeled validation images; unset: hold out validation_share of train (seeded, the same for every seed)
    validation: str | None = None
    validation_share: float = 0.1
    test: str | None = None  # labeled test images, evaluated once at the end with the best weights
    init: str = "random"  # 'random' or a pre-trained image checkpoint folder (RUN/model)
    model: ImageModelSettings = field(default_factory=ImageModelSettings)  # shape for random init
    images: ImageSettings = field(default_factory=ImageSettings)
    augment: AugmentSettings = field(default_factory=AugmentSettings)
    labels_per_class: int | None = None  # label budget: this many training images per class (seeded)
    freeze: str = "none"  # none (full fine-tuning) | embeddings | bottom | head_only (linear probe)
    freeze_layers: int = 0  # with freeze=bottom: encoder stages/blocks nearest the input that stay fixed
    epochs: float = 10.0  # passes over the labeled images, when no budget is given
    budget: Budget | None = None  # overrides epochs
    evaluations: int = 5  # validations over the run; the best one's weights are kept
    early_stopping: int = 0  # evaluations without improvement before stopping (0: off)
    seeds: int = 1  # repeat with seed, seed+1, ...; report mean, std and a 95% interval
    output: str = "runs/image-finetune"  # run folder: best/, metrics.json, predictions, confusion.png, summary.json
    optimizer: OptimizerConfig = field(default_factory=lambda: OptimizerConfig(lr=1e-3, warmup=0.1, weight_decay=0.05))
    training: TrainingSettings = field(default_factory=lambda: TrainingSettings(
        batch_size=64, eval_every=0, eval_batches=0, eval_batch_size=256, checkpoint_every=0,
        keep_last=1, log_every=10))

    def __post_init__(self) -> None:
        if not self.train:
            raise ConfigError("image-finetune.train is empty: pass labeled images (class folders, .npz with labels, IDX)")
        if not 0.0 < self.validation_share < 1.0:
            raise ConfigError(f"image-finetune.validation_share must be in (0, 1), got {self.validation_share}")
        if self.labels_per_class is not None and self.labels_per_class < 1:
            raise ConfigError(f"image-finetune.labels_per_class must be >= 1, got {self.labels_per_class}")
        if self.freeze not in FREEZE_POLICIES:
            raise ConfigError(f"image-finetune.freeze must be one of {FREEZE_POLICIES}, got {self.freeze!r}")
        if self.epochs <= 0:
            raise ConfigError(f"image-finetune.epochs must be > 0, got {self.epochs}")
        if self.evaluations < 1 or self.seeds < 1:
            raise ConfigError("image-finetune.evaluations and image-finetune.seeds must be >= 1")
