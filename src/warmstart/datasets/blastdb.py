"""NCBI BLAST protein databases, format version 4 (``NAME.pin``, ``NAME.phr``, ``NAME.psq``), read and written.

The index file (``.pin``) is big-endian: version (4), database type (1 = protein), title and date as
length-prefixed strings, the sequence count, the residue total (8 bytes, little-endian: BLAST's one
exception), the longest sequence, then two tables of ``count + 1`` offsets, into the header file and into
the sequence file. Sequences (``.psq``) are one byte per residue in the NCBIstdaa alphabet, each followed
by a NUL. Headers (``.phr``) are ASN.1 BER ``Blast-def-line-set`` values; only each one's first title is
read here (``SEQUENCE { SEQUENCE { [0] VisibleString ...``), which is where ``makeblastdb`` puts the FASTA
header line. Reading streams: the files are memory-mapped, a record is decoded when it is reached.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

NCBISTDAA = "-ABCDEFGHIKLMNPQRSTVWXYZU*OJ"  # byte value -> residue
VERSION, PROTEIN = 4, 1
TITLE_START = bytes.fromhex("3080" "3080" "a080")  # set, def-line, [0] title (indefinite lengths)
VISIBLE_STRING = 0x1A


class BlastDbError(ValueError):
    """The files are not a BLAST v4 protein database; the message names the file and what to do."""


def _int(buf: bytes, at: int) -> tuple[int, int]:
    return struct.unpack_from(">i", buf, at)[0], at + 4


def _string(buf: bytes, at: int) -> tuple[str, int]:
    n, at = _int(buf, at)
    return buf[at : at + n].rstrip(b"\0").decode("ascii", "replace"), at + n


class Index:
    """The parsed ``.pin``: title, date, count, residue total, longest sequence and both offset tables."""

    def __init__(self, path: Path) -> None:
        buf = path.read_bytes()
        if len(buf) < 12:
            raise BlastDbError(f"{path}: {len(buf)} bytes, too short for a BLAST database index")
        version, at = _int(buf, 0)
        kind, at = _int(buf, at)
        if version != VERSION:
            raise BlastDbError(f"{path}: format version {version}; only version 4 is read "
                               "(convert with `blastdbcmd -entry all` to FASTA, then pass the FASTA file)")
        if kind != PROTEIN:
            raise BlastDbError(f"{path}: a nucleotide database (type {kind}); a protein one (.pin/.phr/.psq) is read")
        self.title, at = _string(buf, at)
        self.date, at = _string(buf, at)
        self.count, at = _int(buf, at)
        self.residues = struct.unpack_from("<q", buf, at)[0]
        self.longest, at = _int(buf, at + 8)
        need = at + 8 * (self.count + 1)
        if len(buf) != need:
            raise BlastDbError(f"{path}: {len(buf)} bytes, expected {need} for {self.count} sequences; the file is "
                               "truncated or not a BLAST v4 index")
        tables = np.frombuffer(buf, dtype=">u4", count=2 * (self.count + 1), offset=at).astype(np.int64)
        self.headers, self.sequences = tables[: self.count + 1], tables[self.count + 1 :]


def _title(header: bytes, where: str) -> str:
    """The first title of a BER ``Blast-def-line-set``."""
    if not header.startswith(TITLE_START) or len(header) < 8 or header[6] != VISIBLE_STRING:
        raise BlastDbError(f"{where}: the header holds no title where makeblastdb writes it")
    n, at = header[7], 8
    if n & 0x80:  # long form: the low bits count the length's bytes
        width = n & 0x7F
        n, at = int.from_bytes(header[8 : 8 + width], "big"), 8 + width
    return header[at : at + n].decode("ascii", "replace")


def _table() -> bytes:
    table = bytearray(b"?" * 256)
    for code, residue in enumerate(NCBISTDAA):
        table[code] = ord(residue)
    return bytes(table)


DECODE = _table()


def records(prefix: Path) -> Iterator[tuple[str, str]]:
    """``(title, sequence)`` per entry of the database ``prefix`` (``.../goasp.fasta`` for
    ``goasp.fasta.pin``), in the database's order."""
    files = {ext: prefix.with_name(prefix.name + ext) for ext in (".pin", ".phr", ".psq")}
    for path in files.values():
        if not path.is_file():
            raise BlastDbError(f"{path} is missing; a BLAST protein database is the three files "
                               f"{prefix.name}.pin, .phr and .psq side by side")
    index = Index(files[".pin"])
    if index.count == 0:
        return
    for ext in (".phr", ".psq"):
        if files[ext].stat().st_size == 0:
            raise BlastDbError(f"{files[ext]} is empty but its index lists {index.count} entries; the file is truncated")
    with open(files[".phr"], "rb") as hf, open(files[".psq"], "rb") as sf, \
            mmap.mmap(hf.fileno(), 0, access=mmap.ACCESS_READ) as headers, \
            mmap.mmap(sf.fileno(), 0, access=mmap.ACCESS_READ) as sequences:
        for end, name, data in ((index.headers[-1], ".phr", headers), (index.sequences[-1], ".psq", sequences)):
            if end > len(data):
                raise BlastDbError(f"{files[name]}: shorter than its index says ({end} bytes); the file is truncated")
        for i in range(index.count):
            title = _title(headers[index.headers[i] : index.headers[i + 1]], f"{files['.phr']} entry {i + 1}")
            raw = sequences[index.sequences[i] : index.sequences[i + 1] - 1]  # drop the NUL after each
            yield title, raw.translate(DECODE).decode("ascii")


def _ber_header(title: str) -> bytes:
    data = title.encode("ascii")
    n = len(data)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | 2]) + n.to_bytes(2, "big")
    return TITLE_START + bytes([VISIBLE_STRING]) + length + data + b"\0\0" * 3


def write(prefix: Path, entries: Iterable[tuple[str, str]], title: str = "warmstart") -> None:
    """A BLAST v4 protein database of ``(title, sequence)`` entries with the headers' titles only: what
    ``records`` reads (tests build one; BLAST itself needs the seq-ids this leaves out)."""
    encode = {residue: code for code, residue in enumerate(NCBISTDAA)}
    headers, sequences, head_at, seq_at = bytearray(), bytearray(b"\0"), [0], [1]
    for name, sequence in entries:
        headers += _ber_header(name)
        sequences += bytes(encode[r] for r in sequence) + b"\0"
        head_at.append(len(headers))
        seq_at.append(len(sequences))
    count = len(head_at) - 1
    residues = sum(b - a - 1 for a, b in zip(seq_at, seq_at[1:]))
    longest = max((b - a - 1 for a, b in zip(seq_at, seq_at[1:])), default=0)
    strings = b"".join(struct.pack(">i", len(s)) + s for s in (title.encode(), b"Jan 1, 2026  0:00 AM\0\0\0\0"))
    pin = (struct.pack(">ii", VERSION, PROTEIN) + strings + struct.pack(">i", count) + struct.pack("<q", residues)
           + struct.pack(">i", longest) + np.asarray(head_at + seq_at, dtype=">u4").tobytes())
    for ext, data in ((".pin", pin), (".phr", bytes(headers)), (".psq", bytes(sequences))):
        prefix.with_name(prefix.name + ext).write_bytes(data)
