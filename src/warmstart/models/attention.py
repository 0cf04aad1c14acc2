"""Scaled dot-product attention for the encoders: SDPA, or written out where that measured faster.

``attend`` is what every attention layer calls, over (batch, heads, tokens, head) tensors with a boolean
key mask. It picks between PyTorch's ``scaled_dot_product_attention`` and two matmuls around a softmax
by the rule below, which bench/kernel_timings.py measures on each CPU kind.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from warmstart.models.onednn import onednn_bf16

# Attention written out (two matmuls and a softmax) vs SDPA's CPU kernels, timed by bench/kernel_timings.py on
# each CPU kind we have (bench/results/*/kernels.md). Written out wins in one case only: training in bf16
# on a CPU with native bf16 units, rows of up to 128 tokens: its matmuls run on those units, SDPA's bf16
# backward does not (forward+backward 2.4-2.6x on Zen 4 AVX512-BF16, 2.7-4.7x on Sapphire Rapids AMX).
# Everywhere else SDPA was faster: fp32 training (1.4-3.3x on AMX and on an AVX2-only stand-in), bf16
# without native units (~4x), inference in either dtype (1.4-2.3x on AMX; on Zen 4, heads of 64 up to ~96
# tokens had been 1.0-1.4x faster written out, less than AMX loses), and rows of 512 tokens.
# The written-out form materialises (rows, heads, T, T) scores, so it runs over blocks of rows whose
# scores stay cache-sized (~2M entries).
EXPLICIT_ATTENTION_MAX_TOKENS = 128
EXPLICIT_ATTENTION_BLOCK = 1 << 21  # score entries per block of rows


def _written_out(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor | None, dropout_p: float) -> torch.Tensor:
    scores = torch.matmul(q, k.transpose(-1, -2)) * q.shape[-1] ** -0.5  # (B, heads, T, T)
    if keep is not None:
        scores = scores.masked_fill(~keep, float("-inf"))
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(v.dtype)
    if dropout_p > 0:
        probs = F.dropout(probs, dropout_p)
    return torch.matmul(probs, v)


def written_out_wins(q: torch.Tensor) -> bool:
    """Whether ``attend`` writes attention out for queries ``q`` (B, heads, T, head); see the note above."""
    return (q.device.type == "cpu" and q.dtype == torch.bfloat16 and torch.is_grad_enabled()
            and q.shape[-2] <= EXPLICIT_ATTENTION_MAX_TOKENS and onednn_bf16())


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor | None, dropout_p: float) -> torch.Tensor:
    """Scaled dot-product attention over (B, heads, T, head) tensors; ``keep`` a boolean key mask or None."""
    if not written_out_wins(q):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=keep, dropout_p=dropout_p)
    return written_out_blocks(q, k, v, keep, dropout_p)


def written_out_blocks(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor | None,
                       dropout_p: float) -> torch.Tensor:
    """``_written_out`` over blocks of rows whose (rows, heads, T, T) scores stay cache-sized."""
    B, heads, T, head = q.shape
    rows = max(1, EXPLICIT_ATTENTION_BLOCK // (heads * T * T))
    if rows >= B:
        return _written_out(q, k, v, keep, dropout_p)
    blocks = [_written_out(q[i:i + rows], k[i:i + rows], v[i:i + rows], None if keep is None else keep[i:i + rows], dropout_p)
              for i in range(0, B, rows)]
    return torch.cat(blocks)
