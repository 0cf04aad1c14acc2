"""Typed configuration: the job dataclasses that YAML recipes and CLI flags fill in.

`settings` holds the shared settings and the text jobs, `image_jobs` the image jobs, `recipes` the
reading of recipe files. Everything a caller needs is importable from `warmstart.config`.
"""

from warmstart.config.image_jobs import (
    BAD_FILE_POLICIES,
    IMAGE_ARCHS,
    PRETRAIN_OBJECTIVES,
    RECONSTRUCTION_LOSSES,
    AugmentSettings,
    CorruptionSettings,
    ImageFinetuneJob,
    ImageModelSettings,
    ImagePretrainJob,
    ImageSettings,
    MaskedPatchSettings,
)
from warmstart.config.finetune_job import FREEZE_POLICIES, TASKS, TRUNCATIONS, ColumnSettings, FinetuneJob
from warmstart.config.recipes import COMMANDS, load_config, read_recipe, save_yaml
from warmstart.config.settings import (
    IMPLEMENTATIONS,
    LAYOUTS,
    PRECISIONS,
    SCHEDULES,
    SENTENCE_TASKS,
    TEXT_ARCHS,
    TOKENIZER_KINDS,
    TXT_MODES,
    Budget,
    MaskingConfig,
    ModelSettings,
    ObjectiveSettings,
    OptimizerConfig,
    PrepareJob,
    PretrainJob,
    TokenizerJob,
    TrainingSettings,
)
from warmstart.errors import ConfigError
from warmstart.plain_data import from_dict, to_dict

__all__ = [
    "AugmentSettings",
    "BAD_FILE_POLICIES",
    "Budget",
    "COMMANDS",
    "ColumnSettings",
    "ConfigError",
    "CorruptionSettings",
    "FREEZE_POLICIES",
    "FinetuneJob",
    "IMAGE_ARCHS",
    "IMPLEMENTATIONS",
    "ImageFinetuneJob",
    "ImageModelSettings",
    "ImagePretrainJob",
    "ImageSettings",
    "LAYOUTS",
    "MaskedPatchSettings",
    "MaskingConfig",
    "ModelSettings",
    "ObjectiveSettings",
    "OptimizerConfig",
    "PRECISIONS",
    "PRETRAIN_OBJECTIVES",
    "PrepareJob",
    "PretrainJob",
    "RECONSTRUCTION_LOSSES",
    "SCHEDULES",
    "SENTENCE_TASKS",
    "TASKS",
    "TRUNCATIONS",
    "TEXT_ARCHS",
    "TOKENIZER_KINDS",
    "TXT_MODES",
    "TokenizerJob",
    "TrainingSettings",
    "from_dict",
    "load_config",
    "read_recipe",
    "save_yaml",
    "to_dict",
]
