"""The commands that fill a job dataclass: tokenizer, prepare, pretrain, finetune, images.

Each names which config keys get a flag (and under which name); type, default, choices and help come
from the field (config/flags.py). The jobs themselves are imported inside the command functions, so
``warmstart --help`` stays fast.
"""

from __future__ import annotations

import argparse

from warmstart.cli.common import BUDGET, EPILOG, INPUTS, add_common, job
from warmstart.config import FinetuneJob, ImageFinetuneJob, ImagePretrainJob, PrepareJob, PretrainJob, TokenizerJob
from warmstart.config.flags import flag

# ---- tokenizer ------------------------------------------------------------------------------


def _tokenizer_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("tokenizer", help="train a vocabulary on corpora, or adopt an existing one",
                       description="Train a WordPiece, byte-level BPE, Unigram or character vocabulary with "
                       "Hugging Face tokenizers, or adopt an existing vocab.txt / tokenizer.json. The output "
                       "folder loads unchanged with transformers.AutoTokenizer.", epilog=EPILOG)
    add_common(p, TokenizerJob, [*INPUTS, flag("output", "--output", "-o"), "kind", "kmer", "overlapping", "vocab_size", "lowercase",
                                  "min_frequency", "existing", "max_documents"])
    return p


def _run_tokenizer(args: argparse.Namespace) -> int:
    from warmstart.data.tokenizer_job import run_tokenizer_job

    result = run_tokenizer_job(job("tokenizer", args))
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
    add_common(p, PrepareJob, [*INPUTS, "group_field", flag("tokenizer", "--tokenizer", "-t"), flag("output", "--output", "-o"),
                                "validation", "seed", "workers", "layout", "seq_len",
                                flag("static_masks", metavar="K"), "shard_tokens", "dedupe"])
    p.add_argument("--overwrite", action="store_true", help="replace the output folder if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _run_prepare(args: argparse.Namespace) -> int:
    from warmstart.data.prepare import prepare

    summary = prepare(job("prepare", args), overwrite=args.overwrite, progress=not args.quiet)
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
    add_common(p, PretrainJob, [flag("shards", "--shards", "-s"), flag("output", "--output", "-o"), "model.preset",
                                 "model.arch", "model.init_from", "masking_mode", "objective.sentence_task",
                                 *BUDGET, "training.batch_size", "optimizer.lr", "training.precision",
                                 "training.seed"])
    p.add_argument("--resume", action="store_true", help="continue exactly from the newest checkpoint in --output")
    return p


def _run_pretrain(args: argparse.Namespace) -> int:
    from warmstart.training.distributed import DistEnv
    from warmstart.training.pretrain import pretrain

    summary = pretrain(job("pretrain", args), resume=args.resume)
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
    add_common(p, FinetuneJob, ["task", "train", "validation", "test", "init", "tokenizer",
                                 flag("output", "--output", "-o"), flag("columns.text", "--text-column"),
                                 flag("columns.text_pair", "--pair-column"), flag("columns.label", "--label-column"),
                                 "label_budget", "freeze", "freeze_layers", "epochs", *BUDGET, "optimizer.lr",
                                 "seeds", "max_length", "training.precision", "training.seed"])
    return p


def _run_finetune(args: argparse.Namespace) -> int:
    from warmstart.training.finetune import finetune

    print(finetune(job("finetune", args)).text())
    return 0


# ---- images ---------------------------------------------------------------------------------


def _images_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("images", help="pre-train image encoders (denoising CNN, MAE ViT) and fine-tune image classifiers",
                       description="Image pre-training and fine-tuning with the same trainer as text. Sources: a "
                       "folder (one subfolder per class, or flat), .npz/.npy arrays, IDX files (MNIST family) or "
                       "dataset:fashion-mnist[:train|test]. Recipes: recipes/fashion-mnist/.", epilog=EPILOG)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    common = ["model.arch", flag("budget.steps"), flag("budget.minutes"), "optimizer.lr", "training.precision",
              "training.seed"]
    pre = actions.add_parser("pretrain", help="denoising autoencoder (arch resnet) or masked patches (arch vit)",
                             description="Pre-train on unlabeled images; writes checkpoints, metrics.jsonl, curves.png, "
                             "pictures/step-*.png (input, reconstruction, original) and model/.", epilog=EPILOG)
    add_common(pre, ImagePretrainJob, [flag("data", "--data", "-d", metavar="SOURCE"), flag("output", "--output", "-o"),
                                        "objective", *common])
    pre.add_argument("--resume", action="store_true", help="continue exactly from the newest checkpoint in --output")
    fine = actions.add_parser("finetune", help="image classification from a pre-trained image encoder or random init",
                              description="Add a linear head on the pooled representation, train it with full "
                              "fine-tuning or as a linear probe (--freeze head_only) on N labels per class, and "
                              "report accuracy, macro-F1, a confusion matrix and metrics.json.", epilog=EPILOG)
    add_common(fine, ImageFinetuneJob, ["train", "validation", "test", "init", flag("output", "--output", "-o"),
                                         "labels_per_class", "freeze", "freeze_layers", "epochs", "seeds", *common])
    return p


def _run_images(args: argparse.Namespace) -> int:
    if args.action == "pretrain":
        from warmstart.training.distributed import DistEnv
        from warmstart.training.image_pretrain import pretrain_images

        summary = pretrain_images(job("image-pretrain", args), resume=args.resume)
        if DistEnv.from_environment().is_main:
            print(summary.text())
        return 0
    from warmstart.training.image_finetune import finetune_images

    print(finetune_images(job("image-finetune", args)).text())
    return 0


COMMANDS = {
    "tokenizer": (_tokenizer_parser, _run_tokenizer),
    "prepare": (_prepare_parser, _run_prepare),
    "pretrain": (_pretrain_parser, _run_pretrain),
    "finetune": (_finetune_parser, _run_finetune),
    "images": (_images_parser, _run_images),
}
