"""A client of a server's ``/api/jobs``: submit, status, wait, cancel and collect results.

The runner uses it for asynchronous steps (it keeps the job id, so a restarted run reattaches
with :meth:`JobsClient.wait` instead of submitting again); ``ffpipe jobs`` uses it too.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from ffpipe.backends.archives import unpack
from ffpipe.backends.base import BackendError
from ffpipe.catalog import OPS, JobStatus
from ffpipe.catalog.jobs import ARCHIVE_HEADER, FINAL_STATES, JobState
from ffpipe.errors import UserError

Auth = tuple[str, str] | str | None
"""(user, password) for HTTP basic auth, a bearer token, or nothing."""


class JobsClientError(UserError):
    """The server refused a request or answered something unexpected."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class JobNotFoundError(JobsClientError):
    """The server has no job with that id."""


class JobsUnavailableError(JobsClientError):
    """The server could not be reached or failed (5xx): worth retrying later."""


class JobWaitTimeout(JobsClientError):
    """The job did not finish in the time given."""


class JobFailedError(JobsClientError):
    """The job ended failed or cancelled; ``status`` is its final status."""

    def __init__(self, status: JobStatus) -> None:
        result = (status.result or {}) if status.status == "failed" else {}
        reason = ": ".join(str(result[key]) for key in ("error", "detail") if result.get(key))
        super().__init__(f"job {status.job_id} {status.status}" + (f": {reason}" if reason else ""))
        self.status = status


def _auth_headers(auth: Auth) -> tuple[dict[str, str], tuple[str, str] | None]:
    if isinstance(auth, str):
        return {"Authorization": f"Bearer {auth}"}, None
    return {}, auth


class JobsClient:
    """Talks to the job API of the server at ``url`` (e.g. ``http://127.0.0.1:9002``)."""

    def __init__(self, url: str, auth: Auth = None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        headers, basic = _auth_headers(auth)
        # trust_env=False: a job server on the LAN must not be reached through a proxy.
        self._http = httpx.Client(
            base_url=self.url, headers=headers, auth=basic, timeout=timeout, trust_env=False
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> JobsClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise JobsUnavailableError(f"cannot reach {self.url}: {error}") from None
        if response.is_success:
            return response
        try:
            body = response.json()
            message = body.get("error", "") + (f": {body['detail']}" if body.get("detail") else "")
        except (json.JSONDecodeError, AttributeError):
            message = response.text[:200]
        message = f"{self.url} answered {response.status_code}: {message}"
        if response.status_code == 404:
            raise JobNotFoundError(message, status_code=404)
        if response.status_code >= 500:
            raise JobsUnavailableError(message, status_code=response.status_code)
        raise JobsClientError(message, status_code=response.status_code)

    def submit(
        self,
        op: str,
        params: dict[str, Any],
        files: dict[str, Path] | None = None,
        *,
        job_id: str | None = None,
        priority: int = 5,
        callback_url: str | None = None,
    ) -> JobStatus:
        """Submit ``op`` with catalog ``params`` and its input files (parameter name -> path)."""
        form: dict[str, str] = {"op": op, "params": json.dumps(params), "priority": str(priority)}
        if job_id is not None:
            form["job_id"] = job_id
        if callback_url is not None:
            form["callback_url"] = callback_url
        with ExitStack() as stack:
            uploads = {
                name: (Path(path).name, stack.enter_context(Path(path).open("rb")))
                for name, path in (files or {}).items()
            }
            response = self._request("POST", "/api/jobs", data=form, files=uploads or None)
        return JobStatus.model_validate(response.json())

    def submit_or_reattach(
        self,
        job_id: str,
        op: str,
        params: dict[str, Any],
        files: dict[str, Path] | None = None,
        *,
        priority: int = 5,
        callback_url: str | None = None,
    ) -> tuple[JobStatus, bool]:
        """The job ``job_id``, submitted only if the server does not have it yet.

        Returns its status and whether this call submitted it. A runner that names its jobs (say,
        by step cache key) calls this again after a restart and picks the running job back up.
        """
        try:
            return self.status(job_id), False
        except JobNotFoundError:
            pass
        try:
            submitted = self.submit(
                op, params, files, job_id=job_id, priority=priority, callback_url=callback_url
            )
        except JobsClientError as error:
            if error.status_code != 409:
                raise
            return self.status(job_id), False  # another submitter won the race
        return submitted, True

    def run(
        self,
        op: str,
        params: dict[str, Any],
        dest_dir: Path,
        *,
        job_id: str | None = None,
        priority: int = 5,
        callback_url: str | None = None,
        progress: Callable[[float, str], None] | None = None,
        poll_seconds: float = 1.0,
        timeout: float | None = None,
    ) -> tuple[dict[str, Path], dict[str, Any]]:
        """One asynchronous step: submit (or reattach to ``job_id``), wait, collect the outputs.

        ``params`` are the op's catalog parameters with file parameters as local paths; those
        are uploaded. ``progress`` gets (fraction, text) on every poll. Returns the downloaded
        output files and the op's result document; raises :class:`JobFailedError` when the job
        fails or is cancelled.
        """
        file_names = set(OPS[op].file_fields) if op in OPS else set()
        files = {
            name: Path(value) for name, value in params.items() if name in file_names and value
        }
        values = {name: value for name, value in params.items() if name not in file_names}
        if job_id is None:
            job_id = self.submit(
                op, values, files, priority=priority, callback_url=callback_url
            ).job_id
        else:
            self.submit_or_reattach(
                job_id, op, values, files, priority=priority, callback_url=callback_url
            )

        def report(status: JobStatus) -> None:
            if progress is not None:
                eta = (
                    ""
                    if status.estimated_time is None or status.status in FINAL_STATES
                    else f", about {status.estimated_time} s left"
                )
                progress(status.progress, f"job {status.job_id} {status.status}{eta}")

        final = self.wait(job_id, timeout=timeout, poll_seconds=poll_seconds, on_status=report)
        if final.status != JobState.COMPLETED:
            raise JobFailedError(final)
        return self.result(job_id, dest_dir), (final.result or {}).get("result") or {}

    def status(self, job_id: str, owner: str | None = None) -> JobStatus:
        """The job's Job Status Response (``owner``: whose, for an admin; see :func:`_whose`)."""
        answer = self._request("GET", f"/api/jobs/{job_id}", params=_whose(owner))
        return JobStatus.model_validate(answer.json())

    def list(
        self, status: str | None = None, op: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Jobs, newest first: status documents with op, priority, stage and attempts."""
        query: dict[str, Any] = {"limit": limit}
        if status is not None:
            query["status"] = status
        if op is not None:
            query["op"] = op
        return self._request("GET", "/api/jobs", params=query).json()["jobs"]

    def cancel(self, job_id: str, owner: str | None = None) -> JobStatus:
        """Cancel the job: queued ones at once, processing ones at their next frame."""
        answer = self._request("POST", f"/api/jobs/{job_id}/cancel", params=_whose(owner))
        return JobStatus.model_validate(answer.json())

    def wait(
        self,
        job_id: str,
        *,
        timeout: float | None = None,
        poll_seconds: float = 0.5,
        on_status: Callable[[JobStatus], None] | None = None,
        owner: str | None = None,
    ) -> JobStatus:
        """Poll until the job is completed, failed or cancelled; returns its last status.

        Connection failures while polling are retried until ``timeout``, so a wait survives a
        server restart. ``on_status`` sees every status polled (for progress displays).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                status = self.status(job_id, owner)
            except JobsUnavailableError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                time.sleep(poll_seconds)
                continue
            if on_status is not None:
                on_status(status)
            if status.status in FINAL_STATES:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                raise JobWaitTimeout(
                    f"job {job_id} still {status.status} at {status.progress:.0%} after"
                    f" {timeout:g} s"
                )
            time.sleep(poll_seconds)

    def result(self, job_id: str, dest_dir: Path, owner: str | None = None) -> dict[str, Path]:
        """Download the outputs of a completed job into ``dest_dir``; name -> path (a folder for
        a folder output, which the server sends zipped)."""
        status = self.status(job_id, owner)
        if status.status != JobState.COMPLETED:
            raise JobsClientError(f"job {job_id} is {status.status}, it has no result")
        dest_dir.mkdir(parents=True, exist_ok=True)
        downloaded: dict[str, Path] = {}
        for name in (status.result or {}).get("files", {}):
            if name in ("", ".", "..") or Path(name).name != name or "\\" in name:
                # The name becomes a local file name: one with a folder in it could land anywhere.
                raise JobsClientError(f"{self.url} named an output {name!r}, not a plain name")
            response = self._request(
                "GET", f"/api/jobs/{job_id}/result/{name}", params=_whose(owner)
            )
            filename = ""
            disposition = response.headers.get("content-disposition", "")
            if "filename=" in disposition:
                filename = Path(disposition.split("filename=", 1)[1].strip('"')).name
            target = dest_dir / f"{name}{Path(filename).suffix}"
            target.write_bytes(response.content)
            if response.headers.get(ARCHIVE_HEADER) == "zip":
                # A folder output, zipped by the server: handed back as the folder it was.
                try:
                    downloaded[name] = unpack(target, dest_dir / name)
                except (zipfile.BadZipFile, BackendError) as error:
                    raise JobsClientError(f"{self.url} sent a broken archive: {error}") from None
                finally:
                    target.unlink(missing_ok=True)
            else:
                downloaded[name] = target
        return downloaded


def _whose(owner: str | None) -> dict[str, str]:
    """The query naming whose job an id means: a job id is unique per user, so an admin who
    sees several users' jobs of one id names the owner."""
    return {} if owner is None else {"owner": owner}
