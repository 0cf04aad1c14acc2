"""Enzyme class of Swiss-Prot proteins, 6-way, split by sequence clusters so near-identical proteins never cross.

Source: Debian ``metastudent-data`` (Swiss-Prot, January 2014, with Gene Ontology annotations), whose
``dataset_201401/MFO/goasp.fasta.{pin,phr,psq}`` is a BLAST v4 protein database of 459,503 proteins titled
``ACCESSION|GO:...,GO:...`` with their molecular-function terms. A protein is labeled when its terms hold
exactly one of the six top enzyme classes (EC 1-6 as GO terms): 252,268 proteins, the smallest class
(isomerase) 13,213. A seeded sample of them is clustered with MMseqs2 (``easy-cluster``, 30% identity over
80% coverage); whole clusters go to train, validation or test. Clusters need 80% coverage of both sequences,
so a protein can still share a domain with a training protein of another cluster: on the 2014 data 65% of the
test proteins have such a local hit at >= 30% identity (E <= 1e-3). ``enzyme-class-strict`` drops those from
validation and test, leaving proteins with no detectable training homolog at that threshold. The ``corpus``
split (for pre-training) holds the training clusters only, labels dropped; validation and test are capped per
class so evaluation stays cheap.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

import warmstart.datasets.blastdb as blastdb
import warmstart.datasets.debian as debian
import warmstart.datasets.mmseqs as mmseqs
from warmstart.datasets.recipe import BuiltDataset, DatasetUnavailable, Origin

PACKAGE = "metastudent-data"
INSTALL = f"apt-get update && apt-get download {PACKAGE}   (225 MB; or apt-get install -y {PACKAGE})"
SOURCE_ENV = "WARMSTART_ENZYMES_SOURCE"
OWN_FILES = (f"pass source=PATH (or set {SOURCE_ENV}=PATH): a {PACKAGE}_*.deb, or the folder holding a BLAST v4 "
             "protein database goasp.fasta.pin/.phr/.psq titled ACCESSION|GO:...,GO:...")
SYSTEM_DIR = Path("/usr/share/metastudent-data/dataset_201401/MFO")
DATABASE = "goasp.fasta"
CLASSES = {"GO:0016491": "oxidoreductase", "GO:0016740": "transferase", "GO:0016787": "hydrolase",
           "GO:0016829": "lyase", "GO:0016853": "isomerase", "GO:0016874": "ligase"}
SAMPLE = 60_000  # labeled proteins drawn (seeded) before clustering: ~2 minutes of mmseqs on 2 cores
IDENTITY, COVERAGE = 0.3, 0.8
SHARES = {"validation": 0.1, "test": 0.1}  # of the clusters; the rest train
CAP = {"validation": 200, "test": 300}  # proteins per class kept in these splits
MAX_RESIDUES = 2000  # longer proteins are cut to their first 2,000 residues in the stored records
SEED = 2014


def _unavailable(problem: str) -> DatasetUnavailable:
    return DatasetUnavailable("enzyme-class", problem, install=INSTALL, own_files=OWN_FILES)


def enzyme_class(title: str) -> tuple[str, str | None]:
    """(accession, class) from a ``ACCESSION|GO:...,GO:...`` title; class None unless exactly one of six."""
    accession, _, terms = title.partition("|")
    found = {CLASSES[t] for t in terms.split(",") if t in CLASSES}
    return accession, (found.pop() if len(found) == 1 else None)


def labeled_proteins(database: Path) -> list[dict[str, Any]]:
    """Every protein of the database with exactly one enzyme class, in the database's order."""
    proteins = []
    for title, sequence in blastdb.records(database):
        accession, label = enzyme_class(title)
        if label is not None and sequence:
            proteins.append({"text": sequence[:MAX_RESIDUES], "label": label, "accession": accession,
                             "length": len(sequence)})
    return proteins


def split_by_cluster(proteins: list[dict[str, Any]], clusters: dict[str, str], seed: int = SEED,
                     cap: dict[str, int] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Whole clusters to validation / test (``SHARES``) or train; corpus = the training clusters, unlabeled.
    Validation and test keep ``cap`` proteins per class (single labels) or in all (label lists), seeded."""
    cap = CAP if cap is None else cap
    representatives = sorted(set(clusters.values()))
    draw = np.random.default_rng(seed).random(len(representatives))
    cut_v, cut_t = SHARES["validation"], SHARES["validation"] + SHARES["test"]
    home = {r: "validation" if u < cut_v else "test" if u < cut_t else "train" for r, u in zip(representatives, draw)}
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "validation": [], "test": []}
    for protein in proteins:
        cluster = clusters[protein["accession"]]
        splits[home[cluster]].append({**protein, "cluster": cluster})
    rng = np.random.default_rng([seed, 1])
    for name in ("validation", "test"):
        groups: dict[str, list[dict[str, Any]]] = {}
        for p in splits[name]:
            groups.setdefault(p["label"] if isinstance(p["label"], str) else "all", []).append(p)
        kept = []
        for label in sorted(groups):
            chosen = sorted(rng.permutation(len(groups[label]))[: cap[name]])
            kept += [groups[label][i] for i in chosen]
        splits[name] = sorted(kept, key=lambda p: p["accession"])
    corpus = [{k: v for k, v in p.items() if k != "label"} for p in splits["train"]]
    return {"corpus": corpus, **splits}


def clustered_splits(proteins: list[dict[str, Any]], sample: int, ensure_installed: bool, cap: dict[str, int] | None,
                     unavailable, strict: bool = False) -> tuple[dict[str, list[dict[str, Any]]], int, int, dict[str, int]]:
    """A seeded sample of ``proteins`` clustered and split by cluster, and with ``strict`` cleared of remaining
    homologs -> (splits, sampled, clusters, dropped per split)."""
    rng = np.random.default_rng(SEED)
    picked = [proteins[i] for i in sorted(rng.permutation(len(proteins))[:sample])]
    try:
        clusters = mmseqs.cluster(((p["accession"], p["text"]) for p in picked), IDENTITY, COVERAGE,
                                  ensure_installed=ensure_installed)
        splits = split_by_cluster(picked, clusters, cap=cap)
        splits, dropped = drop_homologs(splits, ensure_installed) if strict else (splits, {"validation": 0, "test": 0})
    except mmseqs.MmseqsError as err:
        raise unavailable(str(err)) from err
    return splits, len(picked), len(set(clusters.values())), dropped


def drop_homologs(splits: dict[str, list[dict[str, Any]]], ensure_installed: bool = False,
                  identity: float = IDENTITY) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """Validation and test without any protein whose best MMseqs2 hit among the training proteins reaches
    ``identity``, at any coverage: clusters demand 80% coverage of both sequences, so a shared domain or a
    fragment of a training protein can sit in another cluster. -> (splits, how many went per split)."""
    queries = [(f"{name}:{p['accession']}", p["text"]) for name in ("validation", "test") for p in splits[name]]
    hits = mmseqs.best_hits(queries, ((p["accession"], p["text"]) for p in splits["train"]),
                            ensure_installed=ensure_installed)
    close = {query for query, (_, found, _) in hits.items() if found >= identity}
    kept = {name: [p for p in splits[name] if f"{name}:{p['accession']}" not in close] for name in ("validation", "test")}
    dropped = {name: len(splits[name]) - len(kept[name]) for name in kept}
    return {**splits, **kept}, dropped


def _database(source: Path | None, work: Path, ensure_installed: bool, unavailable) -> tuple[Path, str, str]:
    """(database prefix, version, what was read)."""
    if source is not None and source.suffix != ".deb":
        prefix = source / DATABASE if source.is_dir() else source
        return prefix, "unknown", str(prefix)
    if source is None and (SYSTEM_DIR / f"{DATABASE}.pin").is_file():
        return SYSTEM_DIR / DATABASE, debian.installed_version(PACKAGE) or "unknown", str(SYSTEM_DIR)
    try:
        deb = source if source is not None else debian.download_fresh(PACKAGE, work / "deb", ensure_installed)
        unpacked, version = debian.extract(deb, work / "unpacked"), debian.deb_version(deb)
    except debian.AptError as err:
        raise unavailable(f"{err}\n  run `apt-get update` as root and retry") from err
    return unpacked / SYSTEM_DIR.relative_to("/") / DATABASE, version, f"apt-get download {PACKAGE} ({deb.name})"


def read_database(source: Path | None, ensure_installed: bool, read, unavailable):
    """``read(prefix)`` over the MFO database (the user's, installed, or from the downloaded .deb) -> (its result,
    Origin)."""
    with tempfile.TemporaryDirectory(prefix="warmstart-swissprot-") as work:
        prefix, version, read_from = _database(source, Path(work), ensure_installed, unavailable)
        try:
            result = read(prefix)
        except blastdb.BlastDbError as err:
            raise unavailable(str(err)) from err
    return result, Origin(f"{PACKAGE} (Debian)" if source is None else "user files", version, read_from)


def build_strict(source: Path | None = None, *, ensure_installed: bool = False, sample: int = SAMPLE,
                 cap: dict[str, int] | None = None) -> BuiltDataset:
    """``build`` with validation and test proteins that keep a training homolog (any coverage) dropped."""
    return build(source, ensure_installed=ensure_installed, sample=sample, cap=cap, strict=True)


def build(source: Path | None = None, *, ensure_installed: bool = False, sample: int = SAMPLE,
          cap: dict[str, int] | None = None, strict: bool = False) -> BuiltDataset:
    cap = cap or CAP
    proteins, origin = read_database(source, ensure_installed, labeled_proteins, _unavailable)
    if not proteins:
        raise _unavailable(f"{origin.path}: no protein carries exactly one of the six enzyme classes {sorted(CLASSES)}")
    splits, sampled, clusters, dropped = clustered_splits(proteins, sample, ensure_installed, cap, _unavailable, strict)
    counts = {name: Counter(p["label"] for p in rows) for name, rows in splits.items() if name != "corpus"}
    notes = (
        f"{len(proteins):,} proteins with exactly one of six enzyme classes; a seeded sample of {sampled:,} "
        f"clustered with mmseqs easy-cluster at {IDENTITY:.0%} identity, {COVERAGE:.0%} coverage: {clusters:,} clusters",
        f"whole clusters split {SHARES['validation']:.0%} validation / {SHARES['test']:.0%} test / the rest train "
        f"(seed {SEED}); validation and test capped at {cap['validation']} / {cap['test']} per class"
        + (f", then {dropped['validation']} / {dropped['test']} of them dropped for a training hit at >= "
           f"{IDENTITY:.0%} identity (mmseqs easy-search, E <= 1e-3, any coverage)" if strict else
           "; a protein may still share a domain with a training protein of another cluster (enzyme-class-strict "
           "drops those)"),
        "per class: " + "; ".join(f"{name} " + ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
                                  for name, c in counts.items()),
        f"corpus: the {len(splits['corpus']):,} training-cluster proteins without labels, for pre-training; "
        f"sequences cut to {MAX_RESIDUES} residues ('length' keeps the full length)",
    )
    return BuiltDataset(splits, origin, notes)
