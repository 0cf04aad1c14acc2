"""Where a pre-training step's time goes on this machine: matmuls against everything else.

The MFU of `bench/pretrain.py` divides useful FLOPs by the matmul peak of the run's precision. Where bf16
matmuls are many times faster than fp32 (AMX), the non-matmul work (normalisation, GELU, softmax, the
embedding gradient, the optimizer, autocast's casts) becomes most of a step and caps the MFU however fast the
matmuls get. This profiles a few steps of `bench/pretrain.py`'s model (BERT hidden 256 x 4 layers, vocabulary
30,522, batch 32 x 128, 15% masked, sparse MLM head, fused AdamW) with torch.profiler and prints the share of
self CPU time per operator group, in the precision ``auto`` picks here (or ``--precision``).

    .venv/bin/python bench/profile_step.py            # about a minute on 2 CPU cores
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_kind  # noqa: E402
from pretrain_runs import SMALL  # noqa: E402

from warmstart import hardware  # noqa: E402
from warmstart.models.bert import BertConfig, BertForPreTraining  # noqa: E402
from warmstart.objectives.text import text_objective  # noqa: E402

GROUPS = {  # operator name fragments -> group, first match wins
    "matmul": ("mm", "addmm", "bmm", "matmul", "linear", "_mkldnn", "onednn"),
    "attention (SDPA)": ("scaled_dot_product", "flash_attention"),
    "optimizer": ("adam", "_foreach", "_fused"),
    "embedding": ("embedding",),
    "norm / activation / softmax": ("layer_norm", "gelu", "softmax", "tanh", "log_softmax", "native_layer_norm"),
    "casts and copies": ("copy_", "to", "_to_copy", "clone", "contiguous", "cat", "index", "masked", "where"),
}


def group_of(name: str) -> str:
    short = name.removeprefix("aten::").lower()
    for group, fragments in GROUPS.items():
        if any(f == short or f in short for f in fragments):
            return group
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--finetune", action="store_true",
                        help="a fine-tuning step instead: MiniLM's shape (hidden 384 x 6, 12 heads) classifying batches of "
                             "32 rows of --length tokens, ours and transformers' BertForSequenceClassification side by side")
    parser.add_argument("--protein", action="store_true",
                        help="a protein MLM step instead (bench/protein_mlm.py's ESM-2-like shape, rotary positions, "
                             "8,192 tokens per batch in rows of --length), ours and transformers' EsmForMaskedLM")
    parser.add_argument("--length", type=int, default=64, help="tokens per row of the --finetune / --protein batches")
    args = parser.parse_args()
    kind, line = machine_kind()
    precision = hardware.resolve_precision(args.precision, "cpu")
    print(f"machine: {kind}: {line}\nprecision: {precision}")
    if args.protein or args.finetune:  # ours and transformers' model side by side
        models, rows = ((protein_models(args.length), 8192 // args.length) if args.protein
                        else (finetune_models(args.length), 32))
        for name, (model, step_of) in models.items():
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
            print(f"\n{name}, batch {rows} x {args.length}:")
            report(lambda: train_step(model, step_of, optimizer, precision), args.steps)
        return
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig(vocab_size=30522, max_position_embeddings=512, hidden_dropout_prob=0.0,
                                          attention_probs_dropout_prob=0.0, **SMALL))
    objective = text_objective()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    ids = torch.randint(5, 30522, (32, 128))
    labels = torch.full_like(ids, -100)
    chosen = torch.rand(ids.shape) < 0.15
    labels[chosen] = ids[chosen]
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}

    report(lambda: train_step(model, lambda: objective(model, batch).loss, optimizer, precision), args.steps)


def train_step(model, loss_of, optimizer, precision: str) -> None:
    with hardware.autocast(precision, "cpu"):
        loss = loss_of()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def finetune_models(length: int) -> dict:
    """Ours and transformers' sequence classifier at MiniLM's shape, random weights (the time is the shape's)."""
    from transformers import BertConfig as HFConfig
    from transformers import BertForSequenceClassification

    from warmstart.models.registry import build_task_model

    shape = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
    ids = torch.randint(5, 30522, (32, length))
    labels = torch.randint(0, 2, (32,))
    torch.manual_seed(0)
    ours = build_task_model("bert", BertConfig(max_position_embeddings=512, **shape), "classification", 2)
    theirs = BertForSequenceClassification(HFConfig(num_labels=2, **shape))
    return {
        "warmstart": (ours, lambda: torch.nn.functional.cross_entropy(ours(input_ids=ids).float(), labels)),
        "transformers": (theirs, lambda: theirs(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss),
    }


def protein_models(length: int) -> dict:
    """Ours and transformers' ESM MLM at bench/protein_mlm.py's shape, full rows of ``length`` residues."""
    from transformers import EsmConfig, EsmForMaskedLM

    shape = dict(vocab_size=33, hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
    ids = torch.randint(4, 29, (8192 // length, length))
    labels = torch.full_like(ids, -100)
    chosen = torch.rand(ids.shape) < 0.15
    labels[chosen] = ids[chosen]
    batch = {"input_ids": ids, "attention_mask": None, "labels": labels}
    torch.manual_seed(0)
    ours = BertForPreTraining(BertConfig(max_position_embeddings=length, position_embedding_type="rotary",
                                         hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **shape))
    objective = text_objective()
    theirs = EsmForMaskedLM._from_config(EsmConfig(
        pad_token_id=1, mask_token_id=32, position_embedding_type="rotary", max_position_embeddings=length + 2,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, token_dropout=False, emb_layer_norm_before=False,
        **shape), attn_implementation="sdpa")
    return {
        "warmstart": (ours, lambda: objective(ours, batch).loss),
        "transformers EsmForMaskedLM": (theirs, lambda: theirs(input_ids=ids, attention_mask=torch.ones_like(ids),
                                                               labels=labels).loss),
    }


def report(step, steps: int) -> None:
    step(), step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        for _ in range(steps):
            step()
    shares: dict[str, float] = defaultdict(float)
    for event in profile.key_averages():
        shares[group_of(event.key)] += event.self_cpu_time_total
    total = sum(shares.values())
    print(f"self CPU time over {steps} steps: {total / 1e6 / steps:.3f} s per step")
    for group, value in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"  {group:<28} {value / total:6.1%}")
    top = sorted(profile.key_averages(), key=lambda e: -e.self_cpu_time_total)[:12]
    print("top operators: " + ", ".join(f"{e.key} {e.self_cpu_time_total / total:.0%}" for e in top))

if __name__ == "__main__":
    main()
