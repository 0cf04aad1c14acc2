"""Rotary position embeddings (Su et al., RoFormer 2021), the positions ESM-2 uses: queries and keys are
rotated by an angle that grows with the position, so attention scores depend on relative offsets and no
position table caps the length. The half-split layout (rotate the first half of each head against the
second) as in GPT-NeoX and ESM-2.
"""

from __future__ import annotations

import torch
from torch import nn

BASE = 10_000.0


class Rotary(nn.Module):
    """Rotates (B, heads, T, head) queries and keys by their positions; no weights."""

    def __init__(self, head_size: int) -> None:
        super().__init__()
        if head_size % 2:
            raise ValueError(f"rotary positions need an even head size, got {head_size}")
        inverse = BASE ** (-torch.arange(0, head_size, 2, dtype=torch.float32) / head_size)  # (head/2,)
        self.register_buffer("inverse_frequency", inverse, persistent=False)  # not in checkpoints

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(q.shape[-2], device=q.device, dtype=torch.float32)
        angles = torch.outer(positions, self.inverse_frequency.to(q.device))  # (T, head/2)
        angles = torch.cat([angles, angles], dim=-1)  # (T, head): the same angle for both halves
        cos, sin = angles.cos().to(q.dtype), angles.sin().to(q.dtype)
        return q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)
