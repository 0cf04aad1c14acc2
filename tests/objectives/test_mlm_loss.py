"""The MLM loss's blockwise cross-entropy must equal torch's, value, gradient and argmax."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from warmstart.objectives.mlm import vocabulary_cross_entropy


@pytest.mark.parametrize("rows", [0, 1, 127, 300])  # empty, one, under and over a block (128 rows)
def test_equals_torch_cross_entropy_in_fp32(rows):
    torch.manual_seed(rows)
    logits = (torch.randn(rows, 1000) * 4).requires_grad_()
    target = torch.randint(0, 1000, (rows,))
    reference = logits.detach().clone().requires_grad_()
    loss, predicted = vocabulary_cross_entropy(logits, target)
    loss.backward()
    assert torch.equal(logits.detach(), reference.detach())  # the logits are left as they were
    expected = F.cross_entropy(reference, target, reduction="sum")
    expected.backward()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(logits.grad, reference.grad)
    assert torch.equal(predicted, reference.detach().argmax(-1))


def test_bf16_logits_give_an_fp32_loss_and_bf16_gradients():
    torch.manual_seed(0)
    logits = (torch.randn(200, 3000) * 4).bfloat16().requires_grad_()
    target = torch.randint(0, 3000, (200,))
    wide = logits.detach().float().requires_grad_()
    loss, predicted = vocabulary_cross_entropy(logits, target)
    (loss / 200).backward()
    expected = F.cross_entropy(wide, target)
    expected.backward()
    assert loss.dtype == torch.float32 and logits.grad.dtype == torch.bfloat16
    torch.testing.assert_close(loss / 200, expected)
    torch.testing.assert_close(logits.grad.float(), wide.grad, rtol=0.02, atol=1e-5)
    assert torch.equal(predicted, wide.detach().argmax(-1))


def test_gradcheck_in_double():
    torch.manual_seed(0)
    logits = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 7, (5,))
    assert torch.autograd.gradcheck(lambda x: vocabulary_cross_entropy(x, target)[0], (logits,))
