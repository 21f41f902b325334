"""The object store: files kept by the digest of their bytes, written so a crash leaves nothing.

Layout under ``root``::

    sha256/ab/cdef...   one read-only file per blob (the first two hex digits fan out)
    trees/<hex>/...     materialised directory artifacts (hard links to blobs), rebuilt on demand
    quarantine/<hex>    objects found corrupt, moved aside for inspection until the next gc
    tmp/                files being written; renamed into place only when complete

A directory artifact is a manifest blob ``{relative path: blob digest}``; its digest is the
manifest's prefixed with ``tree:``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ffpipe.cache import leftovers
from ffpipe.cache.errors import CacheError, CacheMiss, CorruptObject
from ffpipe.cache.fingerprint import (
    ALGORITHM,
    CHUNK_SIZE,
    canonical_json,
    digest_bytes,
    digest_file,
    hex_of,
)
from ffpipe.cache.manifest_schema import BadManifest, parse_manifest

TREE_PREFIX = "tree:"
READ_ONLY = 0o444
TEMPORARY_NAME = re.compile(r"(?:put|pull|tree)-(?:(?P<pid>\d+)-)?[A-Za-z0-9_]+")
"""Names of files being written in ``tmp/``: ``<kind>-<writer pid>-<random>`` (older: no pid)."""


@dataclass(frozen=True)
class ObjectInfo:
    """One stored blob."""

    digest: str
    size: int
    mtime: float


def temporary_prefix(kind: str) -> str:
    """The start of a temporary file's name in ``tmp/``: it names the writer, for the sweep."""
    return f"{kind}-{os.getpid()}-"


def is_tree(digest: str) -> bool:
    """Whether ``digest`` names a directory artifact."""
    return digest.startswith(TREE_PREFIX)


class ObjectStore:
    """Content-addressed files under ``root``; safe for several processes at once."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._blobs = self.root / ALGORITHM
        self._trees = self.root / "trees"
        self._quarantine = self.root / "quarantine"
        self.tmp_dir = self.root / "tmp"
        for folder in (self._blobs, self._trees, self._quarantine, self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        leftovers.sweep(self.tmp_dir, TEMPORARY_NAME)

    # -- writing ---------------------------------------------------------------------------

    def put_file(self, path: Path, *, move: bool = False, digest: str | None = None) -> str:
        """Store a file's bytes and return their digest; storing known content again is a no-op.

        ``move`` hands the file over to the store: renamed in when it is a plain file with one
        name on the same filesystem, else copied and removed (a stored object is never removed).
        ``digest``, when the caller already knows it (from the stat table), skips reading the
        file at all if that object is stored; if it is not, the bytes are checked against it.
        """
        path = Path(path)
        if digest is not None and self.has(digest):
            if move:
                self._release(path, digest)
            return digest
        if move and _sole_link(path):
            stored = self._move_in(path)
        else:
            temporary, stored = self._copy_to_temporary(path)
            self._install(temporary, hex_of(stored))
            if move:
                self._release(path, stored)
        if digest is not None and stored != digest:
            raise CacheError(f"{path} changed while being stored: expected {digest}, got {stored}")
        return stored

    def put_bytes(self, data: bytes) -> str:
        """Store ``data`` and return its digest."""
        digest = digest_bytes(data)
        if self.has(digest):
            return digest
        handle, name = tempfile.mkstemp(dir=self.tmp_dir, prefix=temporary_prefix("put"))
        with os.fdopen(handle, "wb") as target:
            target.write(data)
            target.flush()
            os.fsync(target.fileno())
        self._install(Path(name), hex_of(digest))
        return digest

    def put_tree(self, folder: Path, *, move: bool = False) -> str:
        """Store every file under ``folder`` and return ``"tree:sha256:<hex>"`` of its manifest.

        Only files count (empty folders vanish); symbolic links are stored as what they point to.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise CacheError(f"{folder} is not a folder")
        manifest: dict[str, str] = {}
        for file in sorted(_files_under(folder)):
            relative = file.relative_to(folder).as_posix()
            manifest[relative] = self.put_file(file, move=move)
        return TREE_PREFIX + self.put_bytes(canonical_json(manifest))

    # -- reading ---------------------------------------------------------------------------

    def has(self, digest: str) -> bool:
        """Whether the artifact is stored (for a tree: its manifest and every member)."""
        if not is_tree(digest):
            return self._blob_path(digest).exists()
        try:
            manifest = self.manifest(digest)
        except CacheMiss:
            return False
        return all(self._blob_path(member).exists() for member in manifest.values())

    def path(self, digest: str, *, verify: bool = False) -> Path:
        """The stored file (or materialised folder for a tree) of ``digest``; never write to it.

        Raises :class:`CacheMiss` when absent. With ``verify`` the bytes are re-hashed first and
        a corrupt object is quarantined and reported with :class:`CorruptObject`.
        """
        if is_tree(digest):
            return self._tree_path(digest, verify=verify)
        blob = self._blob_path(digest)
        if not blob.exists():
            raise CacheMiss(digest)
        if verify:
            self._check_blob(digest, blob)
        return blob

    def manifest(self, digest: str) -> dict[str, str]:
        """``{relative path: blob digest}`` of a tree."""
        manifest_digest = digest.removeprefix(TREE_PREFIX)
        blob = self._blob_path(manifest_digest)
        try:
            return parse_manifest(blob.read_bytes())
        except FileNotFoundError:
            raise CacheMiss(digest) from None
        except BadManifest as problem:
            # Its bytes may hash right (a remote's writer made it so): its shape is what is wrong.
            self._move_to_quarantine(blob, hex_of(manifest_digest))
            raise CorruptObject(
                f"tree manifest {digest} is malformed ({problem}) and was moved out of the cache"
            ) from None

    def blobs_of(self, digest: str) -> set[str]:
        """The blob digests an artifact is made of (a tree: its manifest and members)."""
        if not is_tree(digest):
            return {digest}
        blobs = {digest.removeprefix(TREE_PREFIX)}
        with contextlib.suppress(CacheMiss, CorruptObject):
            blobs.update(self.manifest(digest).values())
        return blobs

    def size(self, digest: str) -> int:
        """Bytes stored for an artifact (0 for parts that are missing)."""
        total = 0
        for blob in self.blobs_of(digest):
            with contextlib.suppress(FileNotFoundError):
                total += self._blob_path(blob).stat().st_size
        return total

    def iter_objects(self) -> Iterator[ObjectInfo]:
        """Every stored blob (tree manifests included), in no particular order."""
        for fan in _scandir(self._blobs):
            if not fan.is_dir():
                continue
            for entry in _scandir(Path(fan.path)):
                with contextlib.suppress(FileNotFoundError):
                    info = entry.stat()
                    digest = f"{ALGORITHM}:{fan.name}{entry.name}"
                    yield ObjectInfo(digest, info.st_size, info.st_mtime)

    # -- removing and checking -------------------------------------------------------------

    def remove(self, digest: str) -> None:
        """Drop an artifact (a tree: its manifest and materialised folder, not its members)."""
        if is_tree(digest):
            manifest_digest = digest.removeprefix(TREE_PREFIX)
            shutil.rmtree(self._trees / hex_of(manifest_digest), ignore_errors=True)
            digest = manifest_digest
        self._blob_path(digest).unlink(missing_ok=True)

    def verify(self) -> list[str]:
        """Re-hash every blob, quarantine the corrupt ones and return their digests (sorted).

        Materialised trees that hold a corrupt or missing member are removed too; they are
        rebuilt from the store when next asked for.
        """
        corrupt = []
        for info in list(self.iter_objects()):
            try:
                self._check_blob(info.digest, self._blob_path(info.digest))
            except CorruptObject:
                corrupt.append(info.digest)
            except FileNotFoundError:
                continue
        self._drop_broken_trees()
        return sorted(corrupt)

    def clear_scratch(self) -> None:
        """Empty ``tmp/`` and ``quarantine/``; only safe while no other process writes."""
        for folder in (self.tmp_dir, self._quarantine):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)

    def materialised_trees(self) -> list[str]:
        """Tree digests that currently have a materialised folder."""
        return [f"{TREE_PREFIX}{ALGORITHM}:{entry.name}" for entry in _scandir(self._trees)]

    # -- internals -------------------------------------------------------------------------

    def _blob_path(self, digest: str) -> Path:
        hex_part = hex_of(digest)
        return self._blobs / hex_part[:2] / hex_part[2:]

    def _copy_to_temporary(self, source: Path) -> tuple[Path, str]:
        hasher = hashlib.sha256()
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        handle, name = tempfile.mkstemp(dir=self.tmp_dir, prefix=temporary_prefix("put"))
        try:
            with open(source, "rb", buffering=0) as reader, os.fdopen(handle, "wb") as target:
                while count := reader.readinto(buffer):
                    hasher.update(view[:count])
                    target.write(view[:count])
                target.flush()
                os.fsync(target.fileno())
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name), f"{ALGORITHM}:{hasher.hexdigest()}"

    def _move_in(self, source: Path) -> str:
        digest = digest_file(source)
        if self.has(digest):
            self._release(source, digest)
            return digest
        with open(source, "rb") as reader:
            os.fsync(reader.fileno())
        try:
            self._install(source, hex_of(digest))
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            temporary, copied = self._copy_to_temporary(source)
            if copied != digest:
                temporary.unlink(missing_ok=True)
                raise CacheError(f"{source} changed while being stored") from None
            self._install(temporary, hex_of(digest))
            source.unlink()
        return digest

    def _release(self, source: Path, digest: str) -> None:
        """Remove a file handed over with ``move``, unless it is the stored object itself."""
        with contextlib.suppress(FileNotFoundError):
            if os.path.samefile(source, self._blob_path(digest)):
                return
        source.unlink(missing_ok=True)

    def _install(self, temporary: Path, hex_part: str) -> None:
        """Rename a complete, synced file into place (or drop it when another writer won)."""
        target = self._blobs / hex_part[:2] / hex_part[2:]
        if target.exists():
            temporary.unlink(missing_ok=True)
            return
        os.chmod(temporary, READ_ONLY)
        target.parent.mkdir(exist_ok=True)
        os.replace(temporary, target)
        _sync_folder(target.parent)

    def _check_blob(self, digest: str, blob: Path) -> None:
        if digest_file(blob) != digest:
            self._move_to_quarantine(blob, hex_of(digest))
            raise CorruptObject(f"object {digest} is corrupt and was moved out of the cache")

    def _move_to_quarantine(self, blob: Path, hex_part: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.replace(blob, self._quarantine / hex_part)

    def _tree_path(self, digest: str, *, verify: bool) -> Path:
        manifest = self.manifest(digest)
        if verify:
            for member in manifest.values():
                self.path(member, verify=True)
        folder = self._trees / hex_of(digest.removeprefix(TREE_PREFIX))
        if folder.is_dir() and (not verify or self._tree_is_intact(folder, manifest)):
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        building = Path(tempfile.mkdtemp(dir=self.tmp_dir, prefix=temporary_prefix("tree")))
        for relative, member in manifest.items():
            destination = building / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(self.path(member), destination)
        try:
            os.rename(building, folder)
        except OSError as error:
            # Another process materialised the same tree first; its copy is as good as ours.
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            shutil.rmtree(building, ignore_errors=True)
        return folder

    def _tree_is_intact(self, folder: Path, manifest: dict[str, str]) -> bool:
        for relative, member in manifest.items():
            try:
                placed = (folder / relative).stat()
                blob = self._blob_path(member).stat()
            except FileNotFoundError:
                return False
            same_file = (placed.st_ino, placed.st_dev) == (blob.st_ino, blob.st_dev)
            if not same_file and digest_file(folder / relative) != member:
                return False
        return True

    def _drop_broken_trees(self) -> None:
        for tree in self.materialised_trees():
            folder = self._trees / hex_of(tree.removeprefix(TREE_PREFIX))
            try:
                intact = self._tree_is_intact(folder, self.manifest(tree))
            except (CacheMiss, CorruptObject, ValueError):
                intact = False
            if not intact:
                shutil.rmtree(folder, ignore_errors=True)


def _files_under(folder: Path) -> Iterator[Path]:
    for directory, _subfolders, names in os.walk(folder):
        for name in names:
            file = Path(directory) / name
            if file.is_file():
                yield file


def _sole_link(path: Path) -> bool:
    """Whether renaming ``path`` into the store can surprise nobody: a plain file, one name."""
    return not path.is_symlink() and path.stat().st_nlink == 1


def _link_or_copy(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)
        os.chmod(destination, READ_ONLY)


def _scandir(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except FileNotFoundError:
        return []


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
