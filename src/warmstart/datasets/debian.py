"""Debian packages as data sources: ``apt-get download`` / ``install``, ``.deb`` extraction, versions.

Some real corpora ship only as Debian packages. Data-only packages with no dependencies install with
``apt-get install -y``; R data packages (``r-cran-*``) would pull in all of R, so they are fetched
with ``apt-get download`` and unpacked with ``dpkg-deb -x`` (or, where dpkg is missing, by reading
the ``ar`` archive and its ``data.tar.*`` member in Python, per deb(5)). Nothing here decides what
a failure means to the user: callers turn an ``AptError`` into a ``DatasetUnavailable``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

TIMEOUT_S = 900  # apt-get update on a slow mirror can take minutes


class AptError(RuntimeError):
    """An apt-get / dpkg command failed or is missing; the message names the command."""

    def __init__(self, command: list[str], detail: str) -> None:
        self.command = " ".join(command)
        super().__init__(f"`{self.command}` failed: {detail}")


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _run(command: list[str], cwd: Path | None = None) -> str:
    if shutil.which(command[0]) is None:
        raise AptError(command, f"{command[0]} is not on PATH (not a Debian-based system?)")
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        raise AptError(command, f"no answer after {TIMEOUT_S} s") from err
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise AptError(command, f"exit status {result.returncode}: {tail}")
    return result.stdout


def update() -> None:
    """``apt-get update`` (needs root)."""
    _run(["apt-get", "update"])


def install(*packages: str) -> None:
    """``apt-get install -y PACKAGES`` (needs root); on failure, ``apt-get update`` and once more
    (a fresh machine's package lists are empty)."""
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    try:
        _run(command)
    except AptError:
        update()
        _run(command)


def download(package: str, dest: Path) -> Path:
    """``apt-get download PACKAGE`` into ``dest`` (no root needed); returns the ``.deb`` path."""
    dest.mkdir(parents=True, exist_ok=True)
    _run(["apt-get", "download", package], cwd=dest)
    debs = sorted(dest.glob(f"{package}_*.deb"))
    if not debs:
        raise AptError(["apt-get", "download", package], f"no {package}_*.deb appeared in {dest}")
    return debs[-1]


def download_fresh(package: str, dest: Path, may_update: bool) -> Path:
    """``download``; when that fails and ``may_update`` (root), ``apt-get update`` and once more (a fresh
    machine's package lists are empty). Raises AptError."""
    try:
        return download(package, dest)
    except AptError:
        if not (may_update and is_root()):
            raise
        update()
        return download(package, dest)


def package_file(package: str, installed: Path, work: Path, may_update: bool) -> tuple[Path, str, str]:
    """A file a Debian package installs at ``installed``: that file when the package is installed, else the
    same file from its ``.deb`` (``apt-get download``, unpacked under ``work``, no root needed; also where a
    Docker image's dpkg excludes /usr/share/doc). -> (path, package version, what was read). Raises AptError."""
    if installed.is_file():
        return installed, installed_version(package) or "unknown", str(installed)
    deb = download_fresh(package, work / "deb", may_update)
    found = extract(deb, work / "unpacked") / installed.relative_to("/")
    if not found.is_file():
        raise AptError(["dpkg-deb", "-x", str(deb)], f"{deb.name} holds no {installed}")
    return found, deb_version(deb), f"apt-get download {package} ({deb.name})"


def installed_version(package: str) -> str | None:
    """The installed version of a Debian package, or ``None`` (not installed, or no dpkg)."""
    try:
        out = _run(["dpkg-query", "-W", "-f", "${Version}", package])
    except AptError:
        return None
    return out.strip() or None


def deb_version(deb: Path) -> str:
    """The version in a ``.deb`` file name (``name_VERSION_arch.deb``), or "unknown"."""
    match = re.fullmatch(r"[^_]+_([^_]+)_[^_]+\.deb", deb.name)
    return match.group(1).replace("%3a", ":") if match else "unknown"


def extract(deb: Path, dest: Path, *, with_dpkg: bool | None = None) -> Path:
    """Unpack a ``.deb``'s files under ``dest`` (like ``dpkg-deb -x``); returns ``dest``.

    ``with_dpkg``: use ``dpkg-deb`` (True), Python (False), or ``dpkg-deb`` where installed (None).
    """
    dest.mkdir(parents=True, exist_ok=True)
    if with_dpkg is None:
        with_dpkg = shutil.which("dpkg-deb") is not None
    if with_dpkg:
        _run(["dpkg-deb", "-x", str(deb), str(dest)])
        return dest
    _extract_with_python(deb, dest)
    return dest


def _extract_with_python(deb: Path, dest: Path) -> None:
    # A .deb is an ar archive: "!<arch>\n", then 60-byte member headers (name 16, ..., size at 48:58).
    with deb.open("rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise AptError(["extract", str(deb)], "not a Debian package (no ar archive header)")
        while header := f.read(60):
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            if name.startswith("data.tar"):
                if name.endswith(".zst"):
                    raise AptError(
                        ["extract", str(deb)], "data.tar.zst needs dpkg-deb (apt-get install dpkg)"
                    )
                with tarfile.open(fileobj=_Slice(f, size), mode="r|*") as tar:
                    # NOTE: the "data" filter refuses absolute paths, links out of dest and devices,
                    # since a .deb handed to us by a user is untrusted input.
                    _safe_extract(tar, dest)
                return
            f.seek(size + (size % 2), os.SEEK_CUR)  # members are padded to an even size
    raise AptError(["extract", str(deb)], "no data.tar.* member inside")


class _Slice:
    """A read-only window of ``size`` bytes on an open file, for streaming one ar member to tarfile."""

    def __init__(self, f, size: int) -> None:
        self._f, self._left = f, size

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        data = self._f.read(n)
        self._left -= len(data)
        return data


def _safe_extract(tar, dest: Path) -> None:
    """Extract refusing absolute paths, '..' and links that leave ``dest``.

    NOTE: tarfile's ``filter="data"`` does this, but only from Python 3.11.4; Debian 12 ships 3.11.2.
    """
    import tarfile

    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    # NOTE: the archive is a stream (mode "r|*", read straight out of the .deb): each member is checked
    # and extracted as it comes; listing them all first and extracting after would need to seek back.
    root = Path(dest).resolve()
    for member in tar:
        target = (root / member.name).resolve()
        if root not in target.parents and target != root:
            raise RuntimeError(f"refusing to extract {member.name!r}: it leaves {root}")
        if member.issym() or member.islnk():
            link = (target.parent / member.linkname).resolve()
            if root not in link.parents:
                raise RuntimeError(f"refusing to extract link {member.name!r} -> {member.linkname!r}")
        if member.isdev():
            raise RuntimeError(f"refusing to extract device file {member.name!r}")
        tar.extract(member, dest)
