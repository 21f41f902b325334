"""The remote cache: the same objects and step entries as ``.ffpipe/``, on any fsspec URL.

Layout under the remote root (a folder path, ``file://``, ``s3://bucket/prefix``, ``gs://``...)::

    objects/sha256/ab/cdef...     blobs, named by the digest of their bytes (as locally)
    steps/ab/cdef....json         step entries: key -> output digests, result, key document
    quarantine/<hex>              objects found corrupt by a reader, moved aside
    tmp/<hex>.<random>            uploads in progress on file systems (renamed into place)

Nothing is visible before it is complete. On file systems an upload goes to ``tmp/`` and is
renamed into place (a rename within one file system is atomic). On object stores (S3, GCS,
Azure) one PUT is atomic: an object appears whole or not at all, and a multipart upload only
appears when completed, so uploads go straight to their final name. Objects go up before the
entry that names them, so an entry never points at something missing. Two runners pushing the
same object write the same bytes under the same name: whichever lands last, it is whole.

Every download is hashed as it arrives and refused when its digest differs (truncated or
corrupt); it is fetched once more, and an object still wrong is moved to ``quarantine/`` so the
next push replaces it. Credentials come from each backend's usual places (for S3: the AWS
environment variables, ``~/.aws`` profiles, instance roles), never from a pipeline.

fsspec is imported only when a remote is opened, so runs that never reach it stay light.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffpipe.cache.errors import CacheError
from ffpipe.cache.fingerprint import ALGORITHM, CHUNK_SIZE, hex_of
from ffpipe.cache.objects import TREE_PREFIX, ObjectStore, is_tree, temporary_prefix
from ffpipe.cache.steps import StepEntry
from ffpipe.errors import UserError

ENTRY_FORMAT = 1
ATOMIC_PUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"})
"""Backends where one write makes an object appear whole or not at all."""
DOWNLOAD_ATTEMPTS = 2

Progress = Callable[[int, int, int], None]
"""Called with ``(done, total, bytes moved so far)``: objects for a push, entries for a pull."""


_UPLOAD_NAME = re.compile(r"^[0-9a-f]{62}(?:\.json)?\.[0-9a-f]{32}$")
"""What :meth:`RemoteStore._publish` names an upload in progress: ``<object or entry>.<uuid>``."""


class RemoteUnavailable(UserError):
    """The remote cannot be reached, or refused our credentials."""


class RemoteCorrupt(CacheError):
    """An object on the remote does not hash to its name; it was moved to the quarantine."""


@dataclass(frozen=True)
class RemoteObject:
    """One blob on the remote."""

    digest: str
    size: int
    modified: float = 0.0
    """When it was written (seconds since the epoch; 0 when the backend does not say)."""


class RemoteStore:
    """Objects and step entries under one fsspec URL; safe for several runners at once."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        import fsspec

        self.url = url
        try:
            # A fresh instance: a cached one keeps the endpoint and credentials it was made with.
            self.fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True, **storage_options)
        except (ImportError, ValueError) as error:
            raise RemoteUnavailable(f"cannot open remote {url}: {error}") from None
        self.root = root.rstrip("/")
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        self.atomic_put = bool(ATOMIC_PUT_PROTOCOLS & set(protocols))

    # -- names ---------------------------------------------------------------------------------

    def object_path(self, digest: str) -> str:
        hex_part = hex_of(digest)
        return f"{self.root}/objects/{ALGORITHM}/{hex_part[:2]}/{hex_part[2:]}"

    def entry_path(self, key: str) -> str:
        hex_part = hex_of(key)
        return f"{self.root}/steps/{hex_part[:2]}/{hex_part[2:]}.json"

    def probe(self) -> None:
        """Contact the remote once; raises :class:`RemoteUnavailable` when that fails."""
        with contextlib.suppress(FileNotFoundError):
            self._call(self.fs.ls, self.root, detail=False)

    # -- entries ---------------------------------------------------------------------------------

    def get_entry(self, key: str) -> StepEntry | None:
        """The entry stored for ``key``; None when there is none (or it is unreadable)."""
        try:
            data = self._call(self.fs.cat_file, self.entry_path(key))
        except FileNotFoundError:
            return None
        return entry_from_json(data, key)

    def get_entries(self, keys: Iterable[str]) -> dict[str, StepEntry]:
        """The entries stored for ``keys``, fetched together (concurrently where the backend
        can); keys without a readable entry are left out."""
        paths = {self.entry_path(key): key for key in keys}
        if not paths:
            return {}
        found = self._call(self.fs.cat, list(paths), on_error="return")
        entries = {}
        for path, data in found.items():
            if isinstance(data, BaseException) and not isinstance(data, FileNotFoundError):
                self._call(_reraise, data)  # unreachable or refused: say so, never a miss
            key = paths.get(path)
            entry = entry_from_json(data, key) if key and isinstance(data, bytes) else None
            if entry is not None:
                entries[key] = entry
        return entries

    def put_entry(self, entry: StepEntry) -> None:
        """Publish an entry (its objects must be up already)."""
        data = entry_to_json(entry)
        self._publish(self.entry_path(entry.key), lambda target: self.fs.pipe_file(target, data))

    def entries(self) -> Iterator[StepEntry]:
        """Every readable entry on the remote."""
        for path in self._find(f"{self.root}/steps"):
            if not path.endswith(".json"):
                continue
            hex_part = "".join(path[: -len(".json")].rsplit("/", 2)[-2:])
            with contextlib.suppress(FileNotFoundError):
                entry = entry_from_json(
                    self._call(self.fs.cat_file, path), f"{ALGORITHM}:{hex_part}"
                )
                if entry is not None:
                    yield entry

    def delete_entry(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._call(self.fs.rm_file, self.entry_path(key))

    # -- objects ---------------------------------------------------------------------------------

    def has_object(self, digest: str) -> bool:
        return bool(self._call(self.fs.exists, self.object_path(digest)))

    def objects(self) -> list[RemoteObject]:
        """Every blob on the remote with its size."""
        found = []
        for path, info in self._find(f"{self.root}/objects/{ALGORITHM}", detail=True).items():
            hex_part = "".join(path.rsplit("/", 2)[-2:])
            with contextlib.suppress(ValueError):
                digest = f"{ALGORITHM}:{hex_part}"
                hex_of(digest)
                found.append(RemoteObject(digest, int(info.get("size") or 0), _modified(info)))
        return found

    def put_object(self, digest: str, source: Path) -> bool:
        """Upload a blob from a local file unless the remote has it; True when uploaded."""
        target = self.object_path(digest)
        if self._call(self.fs.exists, target):
            return False
        self._publish(target, lambda name: self.fs.put_file(str(source), name))
        return True

    def fetch_object(self, digest: str, folder: Path) -> Path:
        """Download a blob into a new file in ``folder``, verified against its digest.

        A download that does not hash to ``digest`` is tried once more; an object still wrong
        is moved to the remote's quarantine and :class:`RemoteCorrupt` raised.
        """
        path = self.object_path(digest)
        for _attempt in range(DOWNLOAD_ATTEMPTS):
            handle, name = tempfile.mkstemp(dir=folder, prefix=temporary_prefix("pull"))
            try:
                with os.fdopen(handle, "wb") as target:
                    got = self._call(_copy_hashing, self.fs, path, target)
            except BaseException:
                Path(name).unlink(missing_ok=True)
                raise
            if got == digest:
                return Path(name)
            Path(name).unlink(missing_ok=True)
        self._quarantine(path, hex_of(digest))
        raise RemoteCorrupt(
            f"remote object {digest} is corrupt (its bytes hash to {got}); moved to quarantine"
        )

    def read_object(self, digest: str) -> bytes:
        """A small object's bytes (a tree manifest), unverified: for bookkeeping only."""
        return bytes(self._call(self.fs.cat_file, self.object_path(digest)))

    def quarantined(self) -> list[str]:
        """Objects moved aside as corrupt."""
        return list(self._find(f"{self.root}/quarantine"))

    def delete_object(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._call(self.fs.rm_file, self.object_path(digest))

    def stale_uploads(self, older_than: float) -> list[str]:
        """Leftovers of uploads killed midway (file systems only), older than ``older_than`` s.

        Only files named as :meth:`_publish` names them, directly in ``tmp/``: anything else
        there is not ours to delete.
        """
        cutoff = time.time() - older_than
        folder = f"{self.root}/tmp"
        stale = []
        for path, info in self._find(folder, detail=True).items():
            parent, _, name = str(path).rstrip("/").rpartition("/")
            ours = parent.rstrip("/").endswith("/tmp") and _UPLOAD_NAME.match(name) is not None
            if ours and _modified(info) < cutoff:
                stale.append(path)
        return stale

    def remove_path(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._call(self.fs.rm_file, path)

    # -- internals ---------------------------------------------------------------------------------

    def _publish(self, target: str, write: Callable[[str], object]) -> None:
        """Write ``target`` so no reader ever sees part of it (see the module's docstring)."""
        if self.atomic_put:
            self._call(write, target)
            return
        temporary = f"{self.root}/tmp/{target.rsplit('/', 1)[-1]}.{uuid.uuid4().hex}"
        self._call(self.fs.makedirs, f"{self.root}/tmp", exist_ok=True)
        self._call(self.fs.makedirs, target.rsplit("/", 1)[0], exist_ok=True)
        try:
            self._call(write, temporary)
            self._call(self.fs.mv, temporary, target)
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.rm_file(temporary)
            raise

    def _quarantine(self, path: str, hex_part: str) -> None:
        destination = f"{self.root}/quarantine/{hex_part}"
        with contextlib.suppress(FileNotFoundError):
            if not self.atomic_put:
                self._call(self.fs.makedirs, f"{self.root}/quarantine", exist_ok=True)
            self._call(self.fs.mv, path, destination)

    def _find(self, path: str, *, detail: bool = False) -> Any:
        try:
            return self._call(self.fs.find, path, detail=detail)
        except FileNotFoundError:
            return {} if detail else []

    def _call(self, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one remote operation; a failure to reach or be let in is RemoteUnavailable."""
        try:
            return action(*args, **kwargs)
        except FileNotFoundError:
            raise
        except (OSError, TimeoutError, ConnectionError) as error:
            raise RemoteUnavailable(_unavailable(self.url, error)) from None
        except Exception as error:
            if _is_transport_error(error):
                raise RemoteUnavailable(_unavailable(self.url, error)) from None
            raise


def open_remote(url: str) -> RemoteStore:
    """The remote at ``url`` (S3 endpoints may be set with ``AWS_ENDPOINT_URL``)."""
    return RemoteStore(url)


def entry_to_json(entry: StepEntry) -> bytes:
    """The remote form of a step entry (no local bookkeeping such as ``last_used``)."""
    document = {
        "format": ENTRY_FORMAT,
        "key": entry.key,
        "pipeline": entry.pipeline,
        "instance_id": entry.instance_id,
        "outputs": entry.outputs,
        "result": entry.result,
        "key_document": entry.key_document,
        "created": entry.created,
    }
    return json.dumps(document, sort_keys=True).encode("utf-8")


def entry_from_json(data: bytes, key: str) -> StepEntry | None:
    """The entry in ``data`` when it is well formed and names ``key``; else None."""
    try:
        document = json.loads(data)
        if document.get("format") != ENTRY_FORMAT or document.get("key") != key:
            return None
        outputs = {str(name): str(digest) for name, digest in document["outputs"].items()}
        for digest in outputs.values():
            hex_of(digest.removeprefix(TREE_PREFIX))
        return StepEntry(
            key=key,
            pipeline=str(document["pipeline"]),
            instance_id=str(document["instance_id"]),
            outputs=outputs,
            result=dict(document.get("result") or {}),
            key_document=dict(document.get("key_document") or {}),
            created=float(document.get("created") or time.time()),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


# -- moving entries between a workspace and a remote ------------------------------------------


@dataclass
class TransferReport:
    """What a push or pull moved."""

    entries: int = 0
    objects: int = 0
    bytes: int = 0
    skipped_objects: int = 0
    failed: dict[str, str] | None = None
    """Entry key -> why it could not be moved."""

    def fail(self, key: str, why: str) -> None:
        self.failed = {**(self.failed or {}), key: why}


def push_entries(
    store: ObjectStore,
    remote: RemoteStore,
    entries: Iterable[StepEntry],
    *,
    jobs: int = 4,
    progress: Progress | None = None,
) -> TransferReport:
    """Upload each entry's objects (those the remote lacks), then the entry itself.

    Local objects are re-hashed before they leave, so a damaged local cache never spreads.
    """
    report = TransferReport()
    wanted = list(entries)
    blobs = sorted({blob for entry in wanted for blob in _local_blobs(store, entry)})

    def upload(blob: str) -> tuple[int, bool]:
        source = store.path(blob, verify=True)
        return source.stat().st_size, remote.put_object(blob, source)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for done, (size, sent) in enumerate(pool.map(upload, blobs), start=1):
            if sent:
                report.objects += 1
                report.bytes += size
            else:
                report.skipped_objects += 1
            if progress is not None:
                progress(done, len(blobs), report.bytes)
        for _ in pool.map(remote.put_entry, wanted):
            report.entries += 1
    return report


def pull_entries(
    store: ObjectStore,
    remote: RemoteStore,
    entries: Iterable[StepEntry],
    *,
    jobs: int = 4,
    progress: Progress | None = None,
) -> tuple[list[StepEntry], TransferReport]:
    """Download each entry's missing objects, verified; returns the entries now complete.

    An entry with a corrupt or missing object is left out (and said so in the report); the
    caller stores the complete ones in its step store.
    """
    report = TransferReport()
    wanted = list(entries)

    def fetch(entry: StepEntry) -> tuple[StepEntry, int, int, str | None]:
        moved = sent_bytes = 0
        try:
            for blob in _remote_blobs(store, remote, entry, jobs):
                if store.has(blob):
                    continue
                sent_bytes += _install(store, remote, blob)
                moved += 1
        except (RemoteCorrupt, FileNotFoundError, CacheError) as error:
            return entry, moved, sent_bytes, str(error) or type(error).__name__
        return entry, moved, sent_bytes, None

    complete = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for done, (entry, moved, size, error) in enumerate(pool.map(fetch, wanted), start=1):
            report.objects += moved
            report.bytes += size
            if error is None:
                report.entries += 1
                complete.append(entry)
            else:
                report.fail(entry.key, error)
            if progress is not None:
                progress(done, len(wanted), report.bytes)
    return complete, report


def fetch_objects(store: ObjectStore, remote: RemoteStore, digests: Iterable[str]) -> int:
    """Bring the artifacts ``digests`` (files or trees) into ``store``, verified; bytes moved.

    Raises :class:`RemoteCorrupt` or FileNotFoundError when one cannot be had whole.
    """
    moved = 0
    for digest in dict.fromkeys(digests):
        if store.has(digest):
            continue
        blobs = [digest]
        if is_tree(digest):
            manifest = digest.removeprefix(TREE_PREFIX)
            if not store.has(manifest):
                moved += _install(store, remote, manifest)
            blobs = list(store.manifest(digest).values())
        for blob in blobs:
            if not store.has(blob):
                moved += _install(store, remote, blob)
    return moved


def push_objects(store: ObjectStore, remote: RemoteStore, digests: Iterable[str]) -> int:
    """Upload the blobs of stored artifacts ``digests`` the remote lacks (re-hashed before they
    leave); how many were uploaded."""
    sent = 0
    for blob in sorted({blob for digest in digests for blob in store.blobs_of(digest)}):
        sent += remote.put_object(blob, store.path(blob, verify=True))
    return sent


def _local_blobs(store: ObjectStore, entry: StepEntry) -> set[str]:
    blobs: set[str] = set()
    for digest in entry.outputs.values():
        blobs |= store.blobs_of(digest)
    return blobs


def _remote_blobs(
    store: ObjectStore, remote: RemoteStore, entry: StepEntry, jobs: int
) -> list[str]:
    """The blobs of an entry, tree manifests fetched first so their members are known."""
    blobs = []
    for digest in entry.outputs.values():
        if not is_tree(digest):
            blobs.append(digest)
            continue
        manifest = digest.removeprefix(TREE_PREFIX)
        if not store.has(manifest):
            _install(store, remote, manifest)
        blobs.append(manifest)
        blobs.extend(store.manifest(digest).values())
    return list(dict.fromkeys(blobs))


def _install(store: ObjectStore, remote: RemoteStore, blob: str) -> int:
    downloaded = remote.fetch_object(blob, store.tmp_dir)
    size = downloaded.stat().st_size
    store.put_file(downloaded, move=True, digest=blob)
    return size


def _copy_hashing(fs: Any, path: str, target: Any) -> str:
    hasher = hashlib.sha256()
    with fs.open(path, "rb") as source:
        while chunk := source.read(CHUNK_SIZE):
            hasher.update(chunk)
            target.write(chunk)
    target.flush()
    os.fsync(target.fileno())
    return f"{ALGORITHM}:{hasher.hexdigest()}"


def _reraise(error: BaseException) -> None:
    raise error


def _modified(info: dict[str, Any]) -> float:
    """Modification time from an fsspec ``info`` dict (``mtime`` on disks, ``LastModified`` on
    S3, ``updated`` on GCS); 0 when absent."""
    for name in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(name)
        if isinstance(value, (int, float)):
            return float(value)
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        if isinstance(value, str):
            from datetime import datetime

            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return 0.0


def _is_transport_error(error: Exception) -> bool:
    """botocore/aiohttp errors (connection refused, bad credentials) without importing them."""
    module = type(error).__module__.split(".", 1)[0]
    return module in {"botocore", "aiobotocore", "aiohttp", "urllib3", "requests", "google"}


def _unavailable(url: str, error: BaseException) -> str:
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, PermissionError):
        return f"remote {url} refused our credentials: {reason}"
    return f"remote {url} is unreachable: {reason}"
