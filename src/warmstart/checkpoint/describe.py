"""What kind of model folder is this? One answer for every command that takes a folder.

``describe(folder)`` reads only ``config.json`` (and ``meta.json`` for warmstart's own folders), never the
weights, and returns a ``Description``: who wrote the folder (warmstart or Hugging Face), the modality,
the architecture and its config, and the task a fine-tuned model was trained for (None when pre-trained).
Evaluation, export, serving and fine-tuning branch on it instead of re-reading the files themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warmstart.checkpoint.hf import read_hf_config
from warmstart.checkpoint.store import read_meta, read_model_config
from warmstart.models.registry import get_architecture


@dataclass(frozen=True)
class Description:
    folder: Path
    source: str  # "warmstart" | "huggingface"
    modality: str  # "text" | "image"
    arch: str
    config: Any  # the architecture's config object
    task: str | None  # the fine-tuned task (e.g. "classification", "image_classification"); None: pre-trained
    labels: list[str] | None = None
    section: dict[str, Any] = field(default_factory=dict)  # config.json's "warmstart" section ({} for HF)

    @property
    def pretrained(self) -> bool:
        return self.task is None

    @property
    def image_classifier(self) -> bool:
        return self.modality == "image" and self.task == "image_classification"


def _config_json(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def is_hf_folder(folder: Path) -> bool:
    """A Hugging Face model folder: a readable config.json without warmstart's own section."""
    data = _config_json(Path(folder))
    return data is not None and "warmstart" not in data


def describe(folder: str | Path) -> Description:
    """The kind of model ``folder`` holds; InputError naming the file when it is not a model folder."""
    folder = Path(folder)
    if is_hf_folder(folder):
        return Description(folder, "huggingface", "text", "bert", read_hf_config(folder), None)
    read_meta(folder)  # a clear error for an incomplete or foreign folder
    arch, config, section = read_model_config(folder)
    modality = get_architecture(arch).modality
    return Description(folder, "warmstart", modality, arch, config, section.get("task"),
                       list(section.get("labels") or []) or None, dict(section))
