"""warmstart checkpoints -> folders that ``transformers`` loads with the matching Auto class.

The weight map it shares with import (a bare encoder's keys lack the ``bert.`` prefix) lives in
``warmstart.checkpoint.hf``, next to the reading of Hugging Face folders.
"""

from __future__ import annotations

import json
from pathlib import Path


from warmstart import checkpoint as ckpt
from warmstart.data.shards import replace_folder
from warmstart.errors import InputError
from warmstart.models.registry import hf_config
from warmstart.tokenization.saving import copy_tokenizer_files

# ---- export ---------------------------------------------------------------------------------------

# what each exported kind is called in transformers, and which of our keys that class does not have
EXPORT_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "masked_lm": ("BertForMaskedLM", ("bert.pooler.", "cls.seq_relationship.")),
    "pretraining": ("BertForPreTraining", ()),
    "encoder": ("BertModel", ("cls.",)),
}


def export_hf(folder: Path, out: Path, kind: str | None = None) -> Path:
    """A warmstart checkpoint -> a folder ``transformers`` loads with the matching Auto class.

    Pre-trained checkpoints export as ``masked_lm`` (default), ``pretraining`` or ``encoder``;
    fine-tuned ones as their task's class (sequence / token classification, QA) with ``id2label``.
    """
    import shutil

    from safetensors.torch import load_file, save_file

    folder, out = Path(folder), Path(out)
    meta = ckpt.read_meta(folder)
    arch, config, section = ckpt.read_model_config(folder)
    if hf_config(arch, config) is None:
        pre_norm = ", pre-norm" if getattr(config, "pre_norm", False) else ""
        rotary = ", rotary" if getattr(config, "position_embedding_type", "absolute") == "rotary" else ""
        raise InputError(f"{folder}: transformers has no equivalent of this {arch}{pre_norm}{rotary} model (only "
                         "post-LayerNorm BERT with a position table exports to it); serve it with `warmstart serve` "
                         "or export it to ONNX instead")
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
    copy_tokenizer_files(folder / "tokenizer", tmp)
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
