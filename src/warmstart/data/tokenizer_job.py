"""`warmstart tokenizer` as a function: stream corpora into a trainer, or adopt an existing vocabulary.

Reads documents with the same readers as ``prepare`` (so what the vocabulary sees is what the
shards will hold), trains with Hugging Face ``tokenizers`` and writes a folder that
``transformers.AutoTokenizer`` loads unchanged.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path

from warmstart.config import TokenizerJob
from warmstart.config.settings import ALPHABETS
from warmstart.data.readers import ReadStats, iter_documents
from warmstart.tokenization import TokenizerConfig, load_tokenizer, save_tokenizer, train_tokenizer
from warmstart.tokenization.alphabets import alphabet_tokenizer


@dataclass
class TokenizerResult:
    output: str
    kind: str
    vocab_size: int
    documents: int
    seconds: float
    adopted: str | None

    def lines(self) -> list[str]:
        source = (f"adopted from {self.adopted}" if self.adopted else "a fixed alphabet" if self.kind in ALPHABETS
                  else f"trained on {self.documents:,} documents")
        return [
            f"tokenizer   {self.output}",
            f"kind        {self.kind}, {self.vocab_size:,} entries, {source}",
            f"time        {self.seconds:.1f} s",
        ]


def run_tokenizer_job(job: TokenizerJob) -> TokenizerResult:
    started = time.perf_counter()
    stats = ReadStats()
    if job.existing:
        tokenizer = load_tokenizer(job.existing)
    elif job.kind in ALPHABETS:  # a fixed vocabulary: nothing to read
        tokenizer = alphabet_tokenizer(job.kind, job.kmer, job.overlapping)
    else:
        documents = (doc.text for doc in iter_documents(job.inputs, job.text_field, job.txt_mode, stats))
        if job.max_documents is not None:
            documents = itertools.islice(documents, job.max_documents)
        config = TokenizerConfig(kind=job.kind, vocab_size=job.vocab_size, lowercase=job.lowercase,
                                 min_frequency=job.min_frequency)
        tokenizer = train_tokenizer(documents, config)
    save_tokenizer(tokenizer, Path(job.output))
    loaded = load_tokenizer(job.output)
    return TokenizerResult(
        output=job.output, kind=job.kind if job.kind in ALPHABETS and not job.existing else loaded.kind,
        vocab_size=loaded.vocab_size,
        documents=stats.documents, seconds=time.perf_counter() - started, adopted=job.existing,
    )
