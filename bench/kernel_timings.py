"""Are warmstart's constant kernel choices the faster ones on *this* machine, in fp32 and in bf16?

Three choices are constants in the code, first tuned on one CPU (AMD Zen 4, bf16):

* attention (``models/attention.py: attend``): written out (two matmuls and a softmax) for bf16 training rows of up
  to ``EXPLICIT_ATTENTION_MAX_TOKENS`` tokens on a CPU with oneDNN bf16 kernels; SDPA otherwise (until
  2026-12-03: written out for every CPU row of up to 128 tokens, and at inference for heads of 64 or more);
* AdamW (``training/optim.py``): the fused kernel, not ``foreach``;
* ``torch.compile``: off in training by default (``training.compile``), on in serving where a C++ compiler exists
  (measured by ``bench/serve.py``, not here).

This times each alternative on the running machine, forward + backward (training) and forward alone
(inference), for head shapes of the presets (4 heads of 64: mini/small; 12 of 32: MiniLM) at 64, 128 and 512
tokens, and AdamW over a small BERT's parameters; it prints which wins and whether the code's choice is that one.
Results go to ``bench/results/<machine kind>/kernels.md``. Run it a second time on a stand-in for an AVX2-only
CPU with ``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2`` (the kind then ends in ``-avx2-standin``).

    .venv/bin/python bench/kernel_timings.py          # about 2-4 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_kind, markdown_table  # noqa: E402

from warmstart.models import attention, bert  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _time(fn, seconds: float) -> float:
    """Median seconds per call over ``seconds`` of repeats, after two warm-up calls."""
    fn(), fn()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 3:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def attention_case(batch: int, heads: int, tokens: int, head: int, dtype: torch.dtype, train: bool, seconds: float):
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(batch, heads, tokens, head, generator=generator).to(dtype).requires_grad_(train)
               for _ in range(3))
    keep = torch.ones(batch, 1, 1, tokens, dtype=torch.bool)
    keep[: batch // 2, ..., tokens * 3 // 4:] = False  # some padding, as in real batches

    def run(path):
        def step():
            with torch.set_grad_enabled(train):
                out = path(q, k, v, keep)
                if train:
                    out.float().sum().backward()
        return step

    written = run(lambda q, k, v, m: attention.written_out_blocks(q, k, v, m, 0.0))
    sdpa = run(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m))
    with torch.set_grad_enabled(train):  # what ``attention.attend`` picks (it reads the grad mode)
        picks_written = attention.written_out_wins(q)
    return _time(written, seconds), _time(sdpa, seconds), "written out" if picks_written else "sdpa"


def adamw_case(implementation: str, seconds: float) -> float:
    torch.manual_seed(0)
    model = bert.BertForPreTraining(bert.BertConfig.preset("mini", vocab_size=30522))
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    kind = {"fused": {"fused": True}, "foreach": {"foreach": True}}[implementation]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, **kind)
    return _time(optimizer.step, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.6, help="timing per case and side")
    parser.add_argument("--output", type=Path, help="the Markdown report (default: results/<kind>/kernels.md)")
    args = parser.parse_args()
    kind, line = machine_kind()
    print(f"machine: {kind}: {line}", flush=True)
    rows, wrong = [], 0
    for dtype_name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        for train in (True, False):
            for heads, head in ((4, 64), (12, 32)):
                for tokens in (64, 128, 512):
                    batch = max(2, (8 * 128 * 128) // (tokens * tokens)) if tokens > 128 else 16
                    written, sdpa, chosen = attention_case(batch, heads, tokens, head, dtype, train, args.seconds)
                    faster = "written out" if written < sdpa else "sdpa"
                    ok = chosen == faster or abs(written - sdpa) / min(written, sdpa) < 0.1  # within 10%: a tie
                    wrong += not ok
                    rows.append([dtype_name, "train" if train else "inference", f"{batch}x{heads}x{tokens}x{head}",
                                 f"{written * 1e3:.2f}", f"{sdpa * 1e3:.2f}", f"{sdpa / written:.2f}", faster, chosen,
                                 "yes" if ok else "**no**"])
                    print(" | ".join(rows[-1]), flush=True)
    fused, foreach = adamw_case("fused", args.seconds), adamw_case("foreach", args.seconds)
    adam_ok = fused <= foreach * 1.1
    wrong += not adam_ok
    text = f"""# Kernel choices on this machine: attention path and AdamW implementation

- date: {time.strftime("%Y-%m-%d %H:%M:%S %z")}; command: `{' '.join(['.venv/bin/python', 'bench/kernel_timings.py', *sys.argv[1:]])}`
- machine kind: {kind}: {line}
- torch {torch.__version__}, {torch.get_num_threads()} threads; medians of repeated calls ({args.seconds} s per case and side)

## Attention: written out vs SDPA (ms per call; batch x heads x tokens x head size; 1/4 of half the rows padded)

{markdown_table(["dtype", "pass", "shape", "written out ms", "SDPA ms", "SDPA / written", "faster", "code picks", "right (±10%)"], rows)}

## AdamW step over a mini BERT (vocabulary 30,522): fused {fused * 1e3:.1f} ms, foreach {foreach * 1e3:.1f} ms
(the code picks fused: {'right' if adam_ok else '**wrong**'})

**{'Every constant choice is the faster one (or within 10%) here.' if wrong == 0 else f'{wrong} choice(s) are not the faster one here.'}**
"""
    output = args.output or RESULTS / kind / "kernels.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
