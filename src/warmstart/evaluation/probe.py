"""Linear probes: a frozen encoder's pooled features + an L2-regularised logistic regression.

The cheapest honest way to ask what a representation knows (Alain & Bengio 2016; the "linear
probe" of SimCLR/MAE papers), and at tens of labels often the best fine-tuning there is: features
are computed once per encoder, after which every label budget and seed costs milliseconds. The
regularisation strength is chosen on validation data, never on the test set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


@torch.no_grad()
def pooled_features(encoder, tokenizer, texts: Sequence[str], max_length: int = 128, batch_size: int = 64,
                    pooling: str = "mean") -> np.ndarray:
    """(N, H) features: mean of the last hidden states over real tokens (or the [CLS] state).

    ``encoder`` maps (input_ids, attention_mask) to hidden states (B, T, H): a pre-training model, or
    a task model, whose ``hidden_states`` is used so that its head plays no part.
    """
    forward = getattr(encoder, "hidden_states", encoder)
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    encoded = tokenizer.tokenizer.encode_batch(list(texts))
    order = np.argsort([-len(e.ids) for e in encoded], kind="stable")
    chunks: dict[int, np.ndarray] = {}
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        # over-long texts keep their first max_length - 1 tokens and the closing [SEP]
        ids_list = [e if len(e) <= max_length else e[: max_length - 1] + [e[-1]] for e in (encoded[i].ids for i in rows)]
        length = max(len(x) for x in ids_list)
        ids = torch.full((len(rows), length), tokenizer.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for r, x in enumerate(ids_list):
            ids[r, : len(x)] = torch.tensor(x)
            mask[r, : len(x)] = 1
        hidden = forward(ids.to(device), mask.to(device)).float()  # (B, T, H)
        if pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = mask.to(device)[..., None].float()
            pooled = (hidden * m).sum(1) / m.sum(1)
        for r, i in enumerate(rows):
            chunks[int(i)] = pooled[r].cpu().numpy()
    encoder.train(was_training)
    return np.stack([chunks[i] for i in range(len(texts))])


@dataclass
class Probe:
    weight: np.ndarray  # (H, C)
    bias: np.ndarray  # (C,)
    mean: np.ndarray
    std: np.ndarray
    l2: float

    def predict(self, features: np.ndarray) -> np.ndarray:
        z = (features - self.mean) / self.std
        return (z @ self.weight + self.bias).argmax(-1)


def train_logistic(features: np.ndarray, labels: np.ndarray, num_classes: int, l2: float, steps: int = 200) -> Probe:
    """Multinomial logistic regression on standardised features, fitted with L-BFGS."""
    mean = features.mean(0)
    std = features.std(0) + 1e-6
    x = torch.tensor((features - mean) / std, dtype=torch.float64)
    y = torch.tensor(labels, dtype=torch.long)
    w = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w + b, y) + l2 * (w * w).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return Probe(w.detach().numpy(), b.detach().numpy(), mean, std, l2)


def fit_probe(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray, num_classes: int,
              grid: Sequence[float] = L2_GRID) -> tuple[Probe, float]:
    """The probe whose L2 strength scores best on validation -> (probe, validation accuracy)."""
    best, best_accuracy = None, -1.0
    for l2 in grid:
        probe = train_logistic(train_x, train_y, num_classes, l2)
        accuracy = float((probe.predict(val_x) == val_y).mean())
        if accuracy > best_accuracy:
            best, best_accuracy = probe, accuracy
    return best, best_accuracy
