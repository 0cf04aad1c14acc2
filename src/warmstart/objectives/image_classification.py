"""Cross-entropy for image classification heads, summed and divided by the global image count."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from warmstart.objectives.base import ObjectiveOutput


@dataclass(frozen=True)
class ImageClassificationObjective:
    def counts(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"items": torch.tensor(batch["pixel_values"].shape[0])}

    def tokens(self, batch: dict[str, torch.Tensor]) -> int:
        return batch["pixel_values"].shape[0]  # a 'tokens' budget counts images

    def log_names(self) -> list[str]:
        return ["loss", "accuracy"]

    def __call__(self, model, batch: dict[str, torch.Tensor], totals: dict[str, torch.Tensor] | None = None) -> ObjectiveOutput:
        totals = totals if totals is not None else self.counts(batch)
        logits, labels = model(batch["pixel_values"]).float(), batch["labels"]  # (B, L), (B,)
        loss_sum = F.cross_entropy(logits, labels, reduction="sum")
        n = torch.tensor(float(labels.numel()), device=logits.device)
        logs = {"loss": torch.stack([loss_sum.detach(), n]),
                "accuracy": torch.stack([(logits.argmax(-1) == labels).sum().float().detach(), n])}
        return ObjectiveOutput(loss=loss_sum / totals["items"].clamp_min(1), logs=logs)
