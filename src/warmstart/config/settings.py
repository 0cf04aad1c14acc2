"""The shared settings (masking, optimizer, budget, training) and the text jobs' dataclasses.

Every setting a run uses lives in a frozen dataclass validated in ``__post_init__`` with a message
a user can act on. Recipes are YAML files whose top-level ``command`` key names the dataclass they
fill (``prepare``, ``tokenizer``, ...); ``--set section.key=value`` overrides apply on top. Unknown
keys and badly typed values are errors naming the dotted key, never silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from warmstart.errors import ConfigError


# --------------------------------------------------------------------------------------------
# Sections


@dataclass(frozen=True)
class MaskingConfig:
    """How tokens are corrupted for masked-language modelling (BERT section 3.1)."""

    probability: float = 0.15  # share of non-special tokens chosen for prediction
    replace_mask: float = 0.8  # of the chosen: becomes [MASK]
    replace_random: float = 0.1  # of the chosen: becomes a random token; the rest stay as they are
    whole_word: bool = False  # choose whole words (WordPiece '##' / byte-level 'Ġ' aware)
    span: bool = False  # SpanBERT-style contiguous spans instead of independent tokens
    mean_span: float = 3.0  # mean span length when span is on
    # spans of exactly this many tokens instead (0: geometric lengths of mean mean_span); pre-training on
    # overlapping DNA k-mers sets span on and this to k, as DNABERT masks (a lone k-mer leaks from its neighbours)
    span_length: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.probability < 1.0:
            raise ConfigError(f"masking.probability must be in (0, 1), got {self.probability}")
        for name in ("replace_mask", "replace_random"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"masking.{name} must be in [0, 1], got {value}")
        if self.replace_mask + self.replace_random > 1.0 + 1e-9:
            raise ConfigError(
                "masking.replace_mask + masking.replace_random must be <= 1 "
                f"(got {self.replace_mask} + {self.replace_random})"
            )
        if self.whole_word and self.span:
            raise ConfigError("masking.whole_word and masking.span are exclusive: pick one")
        if self.mean_span < 1.0:
            raise ConfigError(f"masking.mean_span must be >= 1, got {self.mean_span}")
        if self.span_length < 0:
            raise ConfigError(f"masking.span_length must be >= 0, got {self.span_length}")


TOKENIZER_KINDS = ("wordpiece", "bpe", "unigram", "char", "protein", "dna")  # protein, dna: fixed alphabets
ALPHABETS = ("protein", "dna")  # tokenization/alphabets.py holds their symbols
UNKNOWN_SYMBOLS = ("map", "error")
TXT_MODES = ("paragraphs", "lines")


@dataclass(frozen=True)
class TokenizerJob:
    """`warmstart tokenizer`: train a vocabulary on corpora, or adopt an existing one."""

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"kind": TOKENIZER_KINDS, "txt_mode": TXT_MODES}

    # corpus files, folders or globs (.txt, .txt.gz, .jsonl, .csv, .tsv, .parquet); repeatable
    inputs: list[str] = field(default_factory=list)
    output: str = "runs/tokenizer"  # folder to write tokenizer.json (+ vocab.txt) into
    # the vocabulary model: WordPiece, byte-level BPE, Unigram or characters (trained on the inputs), or a
    # fixed alphabet: protein (one token per amino acid) or dna (one per nucleotide), which needs no inputs
    kind: str = "wordpiece"
    vocab_size: int = 8192  # target vocabulary size
    lowercase: bool | None = None  # lowercase and strip accents before splitting; unset: on for wordpiece only
    min_frequency: int = 2  # drop merges/pieces seen fewer times
    existing: str | None = None  # adopt this vocab.txt, tokenizer.json or tokenizer folder instead of training
    # kind=dna: read non-overlapping k-mers of this many bases (Nucleotide Transformer style; 1: base by base)
    kmer: int = 1
    # with kmer: overlapping k-mers instead, one per base position (DNABERT); warmstart reads plain DNA with it,
    # transformers takes the sequence written as space-separated k-mers (warmstart.tokenization.kmers.kmerize)
    overlapping: bool = False
    text_field: str = "text"  # JSONL field / CSV or parquet column holding the text
    txt_mode: str = "paragraphs"  # .txt documents: blank-line separated paragraphs, or one per line
    max_documents: int | None = None  # train on at most this many documents (unset: all)

    def __post_init__(self) -> None:
        if self.kind not in TOKENIZER_KINDS:
            raise ConfigError(f"tokenizer.kind must be one of {TOKENIZER_KINDS}, got {self.kind!r}")
        if self.vocab_size < 16:
            raise ConfigError(f"tokenizer.vocab_size must be >= 16, got {self.vocab_size}")
        if self.min_frequency < 1:
            raise ConfigError(f"tokenizer.min_frequency must be >= 1, got {self.min_frequency}")
        if self.txt_mode not in TXT_MODES:
            raise ConfigError(f"tokenizer.txt_mode must be one of {TXT_MODES}, got {self.txt_mode!r}")
        if self.kmer != 1 and (self.kind != "dna" or not 2 <= self.kmer <= 8):
            raise ConfigError(f"tokenizer.kmer={self.kmer}: k-mers are for kind=dna, with 2 <= k <= 8")
        if self.overlapping and self.kmer == 1:
            raise ConfigError("tokenizer.overlapping needs k-mers: add --kmer K (2-8) with --kind dna")
        if self.existing is None and not self.inputs and self.kind not in ALPHABETS:
            raise ConfigError("tokenizer.inputs is empty: give corpora to train on, or tokenizer.existing")


LAYOUTS = ("packed", "document", "nsp", "sop")


@dataclass(frozen=True)
class PrepareJob:
    """`warmstart prepare`: raw corpora -> deduplicated, split, tokenized, memory-mapped shards."""

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"txt_mode": TXT_MODES, "layout": LAYOUTS, "alphabet": ALPHABETS,
                                                     "unknown_symbols": UNKNOWN_SYMBOLS}

    # corpus files, folders or globs (.txt, .txt.gz, .jsonl, .csv, .tsv, .parquet); repeatable
    inputs: list[str] = field(default_factory=list)
    tokenizer: str = ""  # tokenizer folder/file from `warmstart tokenizer`, or a vocab.txt
    output: str = "runs/shards"  # shard folder to create
    text_field: str = "text"  # JSONL field / CSV or parquet column holding the text
    # document layout: the JSONL field / CSV or parquet column naming each document's group (e.g. a protein's
    # MMseqs2 cluster); objective.sentence_task=group_contrastive pulls two documents of one group together;
    # validation then holds out whole groups
    group_field: str | None = None
    txt_mode: str = "paragraphs"  # .txt documents: blank-line separated paragraphs, or one per line
    # held-out documents: a share below 1, or a whole number of documents; with group_field, whole groups (a
    # share of the groups, or groups until the number is reached, which the last group may pass)
    validation: float = 0.05
    seed: int = 0  # seed for the split, the sentence pairs and the static masks
    workers: int = 2  # tokenizer processes; 0 tokenizes in the main process
    batch_documents: int = 512  # documents per work item (bounds memory together with workers)
    shard_tokens: int = 50_000_000  # tokens per shard file before a new one starts
    min_characters: int = 1  # shorter documents are dropped
    dedupe: bool = True  # drop exact duplicate documents
    # rows for pre-training: packed documents, one document per row, or NSP/SOP sentence pairs
    layout: str = "packed"
    seq_len: int = 128  # tokens per row including [CLS]/[SEP]
    static_masks: int = 0  # store K differently masked copies of every training row (BERT's duplication factor)
    # the documents are sequences of this alphabet (FASTA records or a column): whitespace dropped, upper-cased,
    # other symbols read as X / N (counted) or refused, by unknown_symbols; unset: natural-language text
    alphabet: str | None = None
    unknown_symbols: str = "map"  # a symbol outside the alphabet: map (to X / N, counted) or error
    masking: MaskingConfig = field(default_factory=MaskingConfig)

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ConfigError("prepare.inputs is empty: give at least one file, folder or glob")
        if self.alphabet is not None and self.alphabet not in ALPHABETS:
            raise ConfigError(f"prepare.alphabet must be one of {ALPHABETS} (or unset), got {self.alphabet!r}")
        if self.unknown_symbols not in UNKNOWN_SYMBOLS:
            raise ConfigError(f"prepare.unknown_symbols must be one of {UNKNOWN_SYMBOLS}, got {self.unknown_symbols!r}")
        if not self.tokenizer:
            raise ConfigError("prepare.tokenizer is empty: run `warmstart tokenizer` first and pass its output")
        if self.txt_mode not in TXT_MODES:
            raise ConfigError(f"prepare.txt_mode must be one of {TXT_MODES}, got {self.txt_mode!r}")
        if self.layout not in LAYOUTS:
            raise ConfigError(f"prepare.layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.group_field is not None and self.layout != "document":
            raise ConfigError(f"prepare.group_field keeps one group per document row: it needs --layout document, "
                              f"got {self.layout!r}")
        if self.validation < 0 or (self.validation >= 1 and self.validation != int(self.validation)):
            raise ConfigError(
                f"prepare.validation must be a share in [0, 1) or a whole number of documents, got {self.validation}"
            )
        if self.workers < 0:
            raise ConfigError(f"prepare.workers must be >= 0, got {self.workers}")
        if self.batch_documents < 1:
            raise ConfigError(f"prepare.batch_documents must be >= 1, got {self.batch_documents}")
        if self.shard_tokens < 1024:
            raise ConfigError(f"prepare.shard_tokens must be >= 1024, got {self.shard_tokens}")
        if self.seq_len < 8:
            raise ConfigError(f"prepare.seq_len must be >= 8, got {self.seq_len}")
        if self.static_masks < 0:
            raise ConfigError(f"prepare.static_masks must be >= 0, got {self.static_masks}")


SCHEDULES = ("linear", "cosine", "constant")
IMPLEMENTATIONS = ("auto", "foreach", "fused", "loop")


@dataclass(frozen=True)
class OptimizerConfig:
    """AdamW and its learning-rate schedule."""

    lr: float = 1e-3  # peak learning rate, reached at the end of warmup
    weight_decay: float = 0.01  # decoupled decay on matrices; biases and norms never decay
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    clip_norm: float = 1.0  # max global gradient norm; 0 = no clipping
    schedule: str = "linear"  # linear | cosine | constant (after warmup)
    warmup: float = 0.06  # < 1: share of the budget; >= 1: a whole number of optimizer steps
    min_lr_ratio: float = 0.0  # floor of the linear/cosine decay, as a share of lr
    implementation: str = "auto"  # auto | foreach | fused | loop (auto: fused on CPU and CUDA)
    layer_lr_decay: float | None = None  # fine-tuning: layer i of L gets lr * decay**(L - i); None = off

    def __post_init__(self) -> None:
        # YAML gives a list; keep the field a real (hashable, frozen) tuple.
        if isinstance(self.betas, list):
            object.__setattr__(self, "betas", tuple(self.betas))
        if not (isinstance(self.betas, tuple) and len(self.betas) == 2):
            raise ConfigError(f"optimizer.betas must be two numbers like [0.9, 0.98], got {self.betas!r}")
        for i, beta in enumerate(self.betas):
            if not 0.0 <= beta < 1.0:
                raise ConfigError(f"optimizer.betas[{i}] must be in [0, 1), got {beta}")
        if not self.lr > 0.0:
            raise ConfigError(f"optimizer.lr must be > 0, got {self.lr}")
        if self.weight_decay < 0.0:
            raise ConfigError(f"optimizer.weight_decay must be >= 0, got {self.weight_decay}")
        if not self.eps > 0.0:
            raise ConfigError(f"optimizer.eps must be > 0, got {self.eps}")
        if self.clip_norm < 0.0:
            raise ConfigError(f"optimizer.clip_norm must be >= 0 (0 turns clipping off), got {self.clip_norm}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"optimizer.schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.warmup < 0.0:
            raise ConfigError(f"optimizer.warmup must be >= 0, got {self.warmup}")
        if self.warmup >= 1.0 and not float(self.warmup).is_integer():
            raise ConfigError(
                f"optimizer.warmup >= 1 counts optimizer steps and must be a whole number, got {self.warmup}; "
                "give a value below 1 for a share of the budget"
            )
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError(f"optimizer.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.implementation not in IMPLEMENTATIONS:
            raise ConfigError(
                f"optimizer.implementation must be one of {IMPLEMENTATIONS}, got {self.implementation!r}"
            )
        if self.layer_lr_decay is not None and not 0.0 < self.layer_lr_decay <= 1.0:
            raise ConfigError(f"optimizer.layer_lr_decay must be in (0, 1] or null, got {self.layer_lr_decay}")


@dataclass(frozen=True)
class Budget:
    """How long a run trains: exactly one of optimizer steps, tokens seen, or wall-clock minutes."""

    steps: int | None = None  # budget in optimizer steps
    tokens: int | None = None  # budget in tokens seen (images seen, for images)
    minutes: float | None = None  # budget in wall-clock minutes (the schedule follows it)

    def __post_init__(self) -> None:
        given = [name for name in ("steps", "tokens", "minutes") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ConfigError(
                "budget needs exactly one of budget.steps, budget.tokens, budget.minutes; "
                f"got {', '.join('budget.' + n for n in given) if given else 'none'}"
            )
        (name,) = given
        value = getattr(self, name)
        if isinstance(value, bool) or not value > 0:
            raise ConfigError(f"budget.{name} must be > 0, got {value!r}")

    @property
    def unit(self) -> str:
        """'steps', 'tokens' or 'minutes': the one that is set."""
        return next(name for name in ("steps", "tokens", "minutes") if getattr(self, name) is not None)


TEXT_ARCHS = ("bert", "bilstm")  # the text entries of models/registry.py (a test keeps the two equal)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # auto: warmstart.hardware decides per device
SENTENCE_TASKS = ("none", "nsp", "sop", "contrastive", "group_contrastive")


@dataclass(frozen=True)
class ModelSettings:
    """Which encoder to build: an architecture, a size preset and any shape overrides."""

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"arch": TEXT_ARCHS}

    arch: str = "bert"  # encoder architecture (models/registry.py)
    preset: str | None = "mini"  # BERT size: tiny | mini | small | medium | base; null: only the fields below
    hidden_size: int | None = None
    num_hidden_layers: int | None = None
    num_attention_heads: int | None = None
    intermediate_size: int | None = None
    max_position_embeddings: int | None = None
    dropout: float | None = None  # hidden and attention dropout; unset: 0 in pre-training (Cramming), 0.1 in fine-tuning
    pre_norm: bool | None = None  # pre-LayerNorm blocks (more stable at high learning rates)
    # bert positions: absolute (a learned table) or rotary (rotated queries and keys, as ESM-2; no length cap)
    positions: str | None = None
    num_layers: int | None = None  # bilstm layers
    # start from this checkpoint or Hugging Face BERT folder (continued, domain-adaptive pre-training)
    init_from: str | None = None

    def __post_init__(self) -> None:
        if self.positions not in (None, "absolute", "rotary"):
            raise ConfigError(f"model.positions must be absolute or rotary, got {self.positions!r}")
        if self.arch not in TEXT_ARCHS:
            raise ConfigError(f"model.arch must be one of {TEXT_ARCHS} for text, got {self.arch!r}")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class ObjectiveSettings:
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"sentence_task": SENTENCE_TASKS}

    mlm: bool = True  # masked-language modelling
    # none | nsp | sop (shards prepared with that layout) | contrastive (document layout): the two halves
    # of a document pulled together | group_contrastive (document layout with prepare.group_field): two
    # documents of one group pulled together (objectives/contrastive.py)
    sentence_task: str = "none"
    sentence_weight: float = 1.0  # weight of the sentence-level loss beside MLM's
    temperature: float = 0.05  # contrastive only
    # group_contrastive: disjoint pairs drawn from each group per epoch, never two of one group in a batch (so
    # at most one per batch of the epoch); 0: all floor(n/2) of them within that cap (large groups weigh more),
    # N: at most N (1: each group weighs alike, as ESM samples UniRef clusters)
    pairs_per_group: int = 0
    # The vocabulary projection runs on masked positions only; false projects every position first
    # (what Hugging Face's BertForMaskedLM does): the same loss, kept as a switch to measure its share.
    sparse_mlm: bool = True

    def __post_init__(self) -> None:
        if self.sentence_task not in SENTENCE_TASKS:
            raise ConfigError(f"objective.sentence_task must be one of {SENTENCE_TASKS}, got {self.sentence_task!r}")
        if not self.mlm and self.sentence_task == "none":
            raise ConfigError("objective: nothing to train; enable mlm or set sentence_task to nsp/sop/contrastive")
        if self.temperature <= 0:
            raise ConfigError(f"objective.temperature must be > 0, got {self.temperature}")
        if self.pairs_per_group < 0:
            raise ConfigError(f"objective.pairs_per_group must be >= 0 (0: every disjoint pair), got {self.pairs_per_group}")


PARALLEL = ("ddp", "fsdp")


@dataclass(frozen=True)
class TrainingSettings:
    """The loop: batches, precision, validation, checkpoints. Shared by pre-training and fine-tuning."""

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"precision": PRECISIONS, "parallel": PARALLEL}

    seed: int = 0  # seed for initialisation, batch order and masks
    batch_size: int = 32  # rows per optimizer step, summed over processes and micro-batches
    accumulation: int = 1  # micro-batches per optimizer step in each process
    # numeric precision. auto: bf16 where the device computes it natively (CUDA from Ampere on; a CPU whose
    # bf16 matmul measures faster than fp32, e.g. AVX512-BF16 or AMX), fp16 with loss scaling on older CUDA
    # GPUs, else fp32. `warmstart doctor` shows what this machine picks
    precision: str = "auto"
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # under torchrun: ddp (every process holds the whole model; fastest while it fits) or fsdp (parameters,
    # gradients and AdamW state split over the processes: about 1/N of them each; for models that do not fit)
    parallel: str = "ddp"
    eval_every: int = 200  # optimizer steps between validations (0: only at the end)
    eval_batches: int = 40  # validation batches per evaluation (0: the whole split)
    eval_batch_size: int = 64
    eval_seed: int = 1234  # fixed validation masks, so losses compare across steps and runs
    eval_probability: float = 0.15  # fixed validation masking rate, whatever the training rate
    checkpoint_every: int = 500  # optimizer steps between checkpoints (0: only at the end)
    keep_last: int = 2  # checkpoints kept
    log_every: int = 10  # steps between training-metric records (no host sync in between)
    on_nonfinite: str = "stop"  # stop | skip: what a NaN/inf loss does
    compile: bool = False  # torch.compile the model
    progress: bool = True

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"training.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.batch_size < 1 or self.accumulation < 1:
            raise ConfigError("training.batch_size and training.accumulation must be >= 1")
        if self.batch_size % self.accumulation:
            raise ConfigError(
                f"training.batch_size ({self.batch_size}) must be divisible by training.accumulation ({self.accumulation})"
            )
        if self.on_nonfinite not in ("stop", "skip"):
            raise ConfigError(f"training.on_nonfinite must be 'stop' or 'skip', got {self.on_nonfinite!r}")
        if not 0.0 < self.eval_probability < 1.0:
            raise ConfigError(f"training.eval_probability must be in (0, 1), got {self.eval_probability}")
        for name in ("eval_every", "eval_batches", "checkpoint_every", "keep_last", "log_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"training.{name} must be >= 0, got {getattr(self, name)}")
        if self.log_every == 0:
            raise ConfigError("training.log_every must be >= 1")


MASKING_MODES = ("dynamic", "static")
CROPS = ("start", "random")  # data/sequences.py


@dataclass(frozen=True)
class PretrainJob:
    """`warmstart pretrain`: shards -> a pre-trained encoder checkpoint."""

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"masking_mode": MASKING_MODES, "crop": CROPS}

    shards: str = ""  # shard folder from `warmstart prepare`
    output: str = "runs/pretrain"  # run folder: checkpoints, metrics.jsonl, curves.png, model/
    masking_mode: str = "dynamic"  # fresh masks each time, or the K copies `prepare --static-masks K` stored
    # document layout: a document longer than a row is cut at its start, or at a random window per epoch and
    # row (random: as ESM trains on proteins, so long sequences are seen whole over the epochs)
    crop: str = "start"
    # document layout: batches of rows of similar length (Hugging Face's group_by_length), so a batch cut after
    # its longest row holds little padding (protein MLM: 1.33-1.38x faster at rows of 512, 1.92-1.98x at 1,024);
    # false: batches drawn at random (still cut after their longest row). Unset: on, except with the contrastive
    # task, whose in-batch negatives would all be documents of one length; group_contrastive batches pairs
    # of one group instead (setting it true there is refused)
    group_by_length: bool | None = None
    model: ModelSettings = field(default_factory=ModelSettings)
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    objective: ObjectiveSettings = field(default_factory=ObjectiveSettings)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    budget: Budget = field(default_factory=lambda: Budget(steps=1000))
    training: TrainingSettings = field(default_factory=TrainingSettings)

    @property
    def grouped_batches(self) -> bool:
        """Whether document rows are batched by length: group_by_length, or its default (see above)."""
        if self.objective.sentence_task == "group_contrastive":
            return False
        if self.group_by_length is not None:
            return self.group_by_length
        return self.objective.sentence_task != "contrastive"

    def __post_init__(self) -> None:
        if not self.shards:
            raise ConfigError("pretrain.shards is empty: pass the folder `warmstart prepare` wrote")
        if self.masking_mode not in MASKING_MODES:
            raise ConfigError(f"pretrain.masking_mode must be 'dynamic' or 'static', got {self.masking_mode!r}")
        if self.crop not in CROPS:
            raise ConfigError(f"pretrain.crop must be one of {CROPS}, got {self.crop!r}")
        if self.crop == "random" and self.masking_mode == "static":
            raise ConfigError("pretrain.crop=random cuts rows anew each epoch, which masks stored for fixed rows "
                              "cannot follow; use masking_mode=dynamic")
        if self.objective.sentence_task == "group_contrastive" and self.group_by_length:
            raise ConfigError("pretrain.group_by_length: group_contrastive batches pairs of one group, not rows of "
                              "similar length; leave group_by_length unset")
