"""The ``gradio`` backend: ops run on a catalog-speaking server through ``gradio_client``.

Each distinct input is uploaded once per backend object (remembered by content digest), and
outputs downloaded from the server are remembered too, so a chain of steps never sends the
server a file it already holds: such inputs are passed as a reference to the server's copy.
Connection failures, timeouts, 5xx answers and a full queue are TransientBackendError so the
runner retries them; everything else is BackendError with the server's message.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import json
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from ffpipe.backends.archives import unpack
from ffpipe.backends.base import (
    Backend,
    BackendError,
    BackendIdentity,
    StepRequest,
    StepResult,
    TransientBackendError,
)
from ffpipe.backends.config import EndpointRef, ServerConfig
from ffpipe.backends.models import model_digests
from ffpipe.catalog import OPS
from ffpipe.errors import UserError

MANIFEST_KEY = "ffpipe_files"
CAPABILITIES = "capabilities"
_POLL_SECONDS = 0.05
_TRANSIENT_ERRORS = ("queue full", "queue is full", "too many requests")


class ServerUnreachable(TransientBackendError, UserError):
    """The server could not be reached while connecting (refused, timed out, 5xx).

    Also a UserError, so ``ffpipe run --server URL`` reports it in one line, not a traceback.
    """


class ServerRefused(BackendError, UserError):
    """The server turned the connection down: wrong credentials, or not a catalog server."""


def file_digest(path: Path) -> str:
    """sha256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _message(error: BaseException) -> str:
    text = str(error)
    try:
        shape = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text or type(error).__name__
    if isinstance(shape, dict) and "error" in shape:
        detail = shape.get("detail")
        return f"{shape['error']}: {detail}" if detail else str(shape["error"])
    return text


def _is_transient(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in _TRANSIENT_ERRORS)


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


class GradioBackend(Backend):
    """Runs ops on a gradio server speaking the catalog (``ffpipe serve`` or compatible).

    ``strict_models`` makes :meth:`check` refuse models the server only substitutes; ``jobs``
    overrides how many steps are sent at once (default: the server's advertised concurrency).
    """

    def __init__(
        self,
        url: str,
        *,
        config: ServerConfig | None = None,
        strict_models: bool = False,
        jobs: int | None = None,
    ) -> None:
        self.url = url if url.endswith("/") else f"{url}/"
        self.config = config or ServerConfig()
        self.strict_models = strict_models
        self._jobs = jobs
        self._lock = threading.Lock()
        self._server_files: dict[str, str] = {}
        """content digest -> path of a copy the server holds (uploaded or produced there)."""
        self.bytes_uploaded = 0
        try:
            self._client = self._connect()
            self._api = self._client.view_api(print_info=False, return_format="dict") or {}
            self._capabilities = self._read_capabilities()
        except TransientBackendError as error:
            raise ServerUnreachable(str(error)) from None
        except BackendError as error:
            raise ServerRefused(str(error)) from None

    # -- connection ---------------------------------------------------------------------------

    def _connect(self) -> Any:
        from gradio_client import Client

        credentials = self.config.credentials()
        try:
            return Client(
                self.url,
                auth=credentials,
                verbose=False,
                download_files=False,
                analytics_enabled=False,
                httpx_kwargs={"timeout": self.config.timeout},
            )
        except (httpx.TransportError, ConnectionError, TimeoutError) as error:
            raise TransientBackendError(f"cannot reach {self.url}: {error}") from None
        except httpx.HTTPStatusError as error:
            raise self._http_error(error) from None
        except ValueError as error:
            # gradio_client raises ValueError for a failed login and for a missing config.
            raise BackendError(f"cannot connect to {self.url}: {error}") from None

    def _http_error(self, error: httpx.HTTPStatusError) -> BackendError:
        status = error.response.status_code
        text = error.response.text[:300]
        if status == 401:
            return BackendError(
                f"{self.url} needs credentials (set FFPIPE_AUTH=user:password or auth_file in "
                f"ffpipe.toml): {text}"
            )
        if status >= 500 or status == 429:
            return TransientBackendError(f"{self.url} answered {status}: {text}")
        return BackendError(f"{self.url} answered {status}: {text}")

    def _named(self) -> dict[str, Any]:
        return self._api.get("named_endpoints", {}) if isinstance(self._api, dict) else {}

    def _has_endpoint(self, ref: EndpointRef) -> bool:
        if isinstance(ref, int):
            return ref in self._client.endpoints and self._client.endpoints[ref].is_valid
        return ref in self._named()

    def _call_kwargs(self, ref: EndpointRef) -> dict[str, Any]:
        return {"fn_index": ref} if isinstance(ref, int) else {"api_name": ref}

    def _read_capabilities(self) -> dict[str, Any]:
        # ffpipe serve answers GET /api/capabilities outside gradio's queue, so a busy server
        # still says what it is; other servers may offer a gradio endpoint, or nothing.
        client = self._client
        try:
            response = httpx.get(
                urllib.parse.urljoin(self.url, "api/capabilities"),
                headers=client.headers,
                cookies=client.cookies,
                timeout=self.config.timeout,
            )
        except httpx.TransportError as error:
            raise TransientBackendError(f"cannot reach {self.url}: {error}") from None
        if response.status_code == 200:
            document = response.json()
            return document if isinstance(document, dict) else {}
        ref = self.config.endpoint(CAPABILITIES)
        if not self._has_endpoint(ref):
            return {}
        document = self._guarded(lambda: self._client.predict(**self._call_kwargs(ref)))
        return document if isinstance(document, dict) else {}

    # -- Backend protocol ---------------------------------------------------------------------

    def identity(self) -> BackendIdentity:
        step_models = None
        if "model_digests" in self._capabilities:
            step_models = functools.partial(model_digests, self._capabilities)
        return BackendIdentity(
            kind="gradio",
            engine=str(self._capabilities.get("engine", "unknown")),
            engine_version=str(self._capabilities.get("version", "unknown")),
            server=self.url,
            step_models=step_models,
            platform=_platform(self._capabilities),
        )

    def capabilities(self) -> dict[str, Any]:
        return dict(self._capabilities)

    def max_concurrency(self) -> int:
        if self._jobs:
            return self._jobs
        limits = self._capabilities.get("limits", {})
        concurrency = limits.get("concurrency") if isinstance(limits, dict) else None
        return concurrency if isinstance(concurrency, int) and concurrency > 0 else 1

    def check(self, steps: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Raise one BackendError listing every op or model of the plan the server lacks."""
        problems: list[str] = []
        models = self._capabilities.get("models", {})
        for op, params in steps:
            ref = self.config.endpoint(op)
            if not self._has_endpoint(ref):
                problems.append(f"op {op!r}: the server has no endpoint {ref!r}")
                continue
            for parameter, value in params.items():
                if not parameter.endswith("_model") or not isinstance(models, dict):
                    continue
                known = models.get(parameter)
                if not isinstance(known, dict):
                    continue
                entry = known.get(str(value))
                if entry is None:
                    problems.append(
                        f"{op}: {parameter}={value!r} is not on the server "
                        f"(it has {', '.join(sorted(known))})"
                    )
                elif self.strict_models and _field(entry, "status") != "exact":
                    problems.append(
                        f"{op}: {parameter}={value!r} is {_field(entry, 'status')} by "
                        f"{_field(entry, 'used')!r} on the server (--strict-models)"
                    )
        if problems:
            named = ", ".join(sorted(self._named())) or "none"
            raise BackendError(
                f"the server at {self.url} cannot run this plan:\n  - "
                + "\n  - ".join(problems)
                + f"\nits endpoints: {named}"
            )

    def run(self, request: StepRequest) -> StepResult:
        if request.op not in OPS:
            raise BackendError(f"unknown op {request.op!r}; known ops: {', '.join(OPS)}")
        ref = self.config.endpoint(request.op)
        if not self._has_endpoint(ref):
            raise BackendError(f"the server at {self.url} has no endpoint {ref!r} for {request.op}")
        try:
            return self._run_once(request, ref)
        except BackendError as error:
            if "file not allowed" not in str(error) or not self._server_files:
                raise
        # The server no longer holds a file we remembered (restarted, cleaned): upload again.
        with self._lock:
            self._server_files.clear()
        return self._run_once(request, ref)

    def supports_jobs(self) -> bool:
        return True

    def run_job(self, request: StepRequest, job_id: str, options: Mapping[str, Any]) -> StepResult:
        """Submit to the server's durable queue (or reattach to ``job_id``) and collect."""
        from ffpipe.backends.jobs_client import JobsClient, JobsClientError, JobsUnavailableError

        client = JobsClient(self.url, self.config.credentials(), timeout=self.config.timeout)
        try:
            files, result = client.run(
                request.op,
                dict(request.params),
                request.workdir,
                job_id=job_id,
                priority=int(options.get("priority", 5)),
                callback_url=options.get("callback_url"),
                progress=request.progress,
            )
        except JobsUnavailableError as error:
            raise TransientBackendError(str(error)) from None
        except JobsClientError as error:
            raise BackendError(str(error)) from None
        finally:
            client.close()
        return StepResult(files=files, result=result)

    def close(self) -> None:
        self._client.close()

    # -- one request --------------------------------------------------------------------------

    def _run_once(self, request: StepRequest, ref: EndpointRef) -> StepResult:
        values = dict(request.params)
        for name in OPS[request.op].file_fields:
            if values.get(name) is not None:
                values[name] = self._server_file(Path(values[name]))
        job = self._guarded(lambda: self._client.submit(**values, **self._call_kwargs(ref)))
        outputs = self._guarded(lambda: self._wait(job, request))
        return self._collect(outputs, request.workdir)

    def _wait(self, job: Any, request: StepRequest) -> Any:
        deadline = time.monotonic() + self.config.timeout
        last = -1.0
        while True:
            # Waiting on the result itself returns the moment it arrives; the short timeout
            # only paces the progress reports.
            try:
                return job.result(timeout=_POLL_SECONDS)
            except concurrent.futures.TimeoutError:
                pass
            if time.monotonic() > deadline:
                job.cancel()
                raise TimeoutError(f"no answer within {self.config.timeout:g} s")
            if request.progress is not None:
                units = job.status().progress_data or []
                if units and units[-1].progress is not None and units[-1].progress != last:
                    last = units[-1].progress
                    request.progress(float(last), units[-1].desc or "")

    def _guarded(self, action: Any) -> Any:
        from gradio_client.exceptions import AppError
        from gradio_client.utils import QueueError, TooManyRequestsError

        try:
            return action()
        except AppError as error:
            message = _message(error)
            raise (TransientBackendError if _is_transient(message) else BackendError)(
                message
            ) from None
        except (QueueError, TooManyRequestsError) as error:
            raise TransientBackendError(f"{self.url}: {_message(error)}") from None
        except httpx.HTTPStatusError as error:
            raise self._http_error(error) from None
        except (httpx.TransportError, ConnectionError, TimeoutError) as error:
            raise TransientBackendError(f"{self.url}: {error or type(error).__name__}") from None
        except ValueError as error:
            message = _message(error)
            raise (TransientBackendError if _is_transient(message) else BackendError)(
                f"{self.url}: {message}"
            ) from None

    def _server_file(self, path: Path) -> dict[str, Any]:
        """A reference to the server's copy of ``path``, uploading it if the server lacks one."""
        digest = file_digest(path)
        with self._lock:
            known = self._server_files.get(digest)
        if known is None:
            known = self._upload(path)
            with self._lock:
                self._server_files[digest] = known
        # No "meta" key: gradio_client would upload the path again; this names the server's copy.
        return {"path": known, "orig_name": path.name}

    def _upload(self, path: Path) -> str:
        client = self._client
        with path.open("rb") as handle:
            response = self._guarded(
                lambda: httpx.post(
                    client.upload_url,
                    headers=client.headers,
                    cookies=client.cookies,
                    files=[("files", (path.name, handle))],
                    timeout=self.config.timeout,
                )
            )
        if response.status_code == 413:
            raise BackendError(f"{path} is too large for the server: {response.text[:300]}")
        if response.status_code >= 400:
            self._guarded(response.raise_for_status)
        self.bytes_uploaded += path.stat().st_size
        return str(response.json()[0])

    # -- outputs ------------------------------------------------------------------------------

    def _collect(self, outputs: Any, workdir: Path) -> StepResult:
        if not isinstance(outputs, (tuple, list)) or len(outputs) != 3:
            raise BackendError(
                f"{self.url} answered {type(outputs).__name__}, not (file, result, files); "
                f"is it an ffpipe-compatible server?"
            )
        primary, result, extras = outputs
        result = dict(result) if isinstance(result, dict) else {}
        manifest = result.pop(MANIFEST_KEY, [{"key": "output", "archive": False}])
        returned = [primary, *(extras or [])]
        if len(manifest) != len(returned):
            raise BackendError(f"{self.url} returned {len(returned)} files for {len(manifest)}")
        workdir.mkdir(parents=True, exist_ok=True)
        files: dict[str, Path] = {}
        for entry, file_data in zip(manifest, returned, strict=True):
            local = self._download(file_data, workdir)
            if entry.get("archive"):
                files[entry["key"]] = unpack(local, workdir / entry["key"])
                local.unlink()
            else:
                files[entry["key"]] = local
        return StepResult(files=files, result=result)

    def _download(self, file_data: Any, workdir: Path) -> Path:
        server_path = _field(file_data, "path")
        name = _field(file_data, "orig_name") or Path(str(server_path)).name
        target = workdir / Path(str(name)).name
        client = self._client
        own_url = urllib.parse.urljoin(self.url, f"gradio_api/file={server_path}")
        given = _field(file_data, "url")
        full_url = urllib.parse.urljoin(self.url, str(given)) if given else own_url
        if not _same_origin(full_url, self.url):
            # Our session cookies go with the request: never to a host the answer names, only
            # to the server we logged in to.
            full_url = own_url

        def fetch() -> None:
            with httpx.stream(
                "GET",
                full_url,
                headers=client.headers,
                cookies=client.cookies,
                timeout=self.config.timeout,
            ) as response:
                response.raise_for_status()
                with target.open("wb") as sink:
                    for chunk in response.iter_bytes():
                        sink.write(chunk)

        self._guarded(fetch)
        with self._lock:
            self._server_files[file_digest(target)] = str(server_path)
        return target


def _same_origin(url: str, base: str) -> bool:
    """Whether ``url`` has the scheme, host and port of ``base``."""
    first, second = urllib.parse.urlsplit(url), urllib.parse.urlsplit(base)
    return (first.scheme, first.netloc) == (second.scheme, second.netloc)


def _platform(capabilities: dict[str, Any]) -> dict[str, str]:
    """The server engine's platform fingerprint, from its capabilities (empty if it has none)."""
    found = capabilities.get("platform")
    if not isinstance(found, dict):
        return {}
    return {str(name): str(value) for name, value in found.items()}
