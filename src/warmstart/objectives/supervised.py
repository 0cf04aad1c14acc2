"""Losses for fine-tuning heads: classification (single or pair), regression, multi-label,
token classification and extractive QA (start/end spans, Devlin et al. 2019 section 4.2).

Like MLM, each loss is a sum divided by a global count the trainer passes in (examples, or
labelled tokens for token classification), so accumulation and data parallelism stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from warmstart.masking import IGNORE_INDEX
from warmstart.objectives.base import ObjectiveOutput, real_tokens


def task_outputs(model, batch: dict[str, torch.Tensor]):
    """The head's raw outputs for a batch (logits, or span logits for QA)."""
    return model(batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"))


# the logs of each task's loss, in the order __call__ writes them
SUPERVISED_LOGS = {
    "classification": ("accuracy", "loss"),
    "pair_classification": ("accuracy", "loss"),
    "regression": ("loss",),
    "multilabel": ("loss",),
    "token_classification": ("token_accuracy", "loss"),
    "qa": ("loss",),
}


@dataclass(frozen=True)
class SupervisedObjective:
    task: str  # classification | pair_classification | regression | multilabel | token_classification | qa

    def counts(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.task == "token_classification":
            return {"items": (batch["labels"] != IGNORE_INDEX).sum()}
        return {"items": torch.tensor(batch["input_ids"].shape[0])}

    def tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return real_tokens(batch)

    def log_names(self) -> list[str]:
        """The names ``__call__`` logs for this task, whatever the batch."""
        return list(SUPERVISED_LOGS[self.task])

    def __call__(self, model, batch: dict[str, torch.Tensor], totals: dict[str, torch.Tensor] | None = None) -> ObjectiveOutput:
        totals = totals if totals is not None else self.counts(batch)
        out = task_outputs(model, batch)
        denominator = totals["items"].clamp_min(1)
        logs: dict[str, torch.Tensor] = {}
        if self.task in ("classification", "pair_classification"):
            logits, labels = out.float(), batch["labels"]
            loss_sum = F.cross_entropy(logits, labels, reduction="sum")
            n = torch.tensor(float(labels.numel()), device=logits.device)
            logs["accuracy"] = torch.stack([(logits.argmax(-1) == labels).sum().float().detach(), n])
        elif self.task == "regression":
            prediction, labels = out.float().squeeze(-1), batch["labels"].float()
            loss_sum = F.mse_loss(prediction, labels, reduction="sum")
            n = torch.tensor(float(labels.numel()), device=prediction.device)
        elif self.task == "multilabel":
            logits, labels = out.float(), batch["labels"].float()
            loss_sum = F.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / labels.shape[-1]
            n = torch.tensor(float(labels.shape[0]), device=logits.device)
        elif self.task == "token_classification":
            logits, labels = out.float(), batch["labels"]
            keep = labels != IGNORE_INDEX  # (B, T)
            loss_sum = F.cross_entropy(logits[keep], labels[keep], reduction="sum")
            n = keep.sum().float()
            logs["token_accuracy"] = torch.stack([(logits[keep].argmax(-1) == labels[keep]).sum().float().detach(), n])
        elif self.task == "qa":
            start, end = out
            loss_sum = 0.5 * (F.cross_entropy(start.float(), batch["start_positions"], reduction="sum")
                              + F.cross_entropy(end.float(), batch["end_positions"], reduction="sum"))
            n = torch.tensor(float(start.shape[0]), device=start.device)
        else:
            raise ValueError(f"unknown task {self.task!r}")
        logs["loss"] = torch.stack([loss_sum.detach(), n])
        return ObjectiveOutput(loss=loss_sum / denominator, logs=logs)
