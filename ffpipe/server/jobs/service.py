"""What the REST API and the Gradio endpoints both do with jobs: check, stage, queue, report."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from pydantic import ValidationError

from ffpipe.catalog import OPS, JobOptions, JobStatus
from ffpipe.catalog.jobs import JobState
from ffpipe.server.errors import INVALID_STATUS, RequestError
from ffpipe.server.execute import check_op, describe_validation, parse_params
from ffpipe.server.files import (
    ARCHIVE_SUFFIX,
    ARCHIVES_FOLDER,
    named_by_content,
    pack_outputs,
)
from ffpipe.server.jobs import failures
from ffpipe.server.jobs.estimate import estimate_seconds
from ffpipe.server.jobs.settings import JobSettings
from ffpipe.server.jobs.store import ALL_STATES, JobConflict, JobRecord, JobStore
from ffpipe.server.names import shorten_name

_JOB_OPTION_FIELDS = tuple(JobOptions.model_fields)
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class ServiceError(RequestError):
    """A request the job service refuses; each kind has its HTTP status."""

    status_code = 400

    def __init__(self, error: str, detail: str = "") -> None:
        super().__init__(self.status_code, error, detail)


class InvalidRequest(ServiceError):
    status_code = INVALID_STATUS


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class TooLarge(ServiceError):
    status_code = 413


class JobControl(Protocol):
    """The part of the worker pool the service drives (see ``JobRunner``)."""

    workers: int

    def wake(self) -> None: ...

    def cancel(self, key: str) -> JobRecord: ...


@dataclass(frozen=True)
class Caller:
    """Who is asking: the authenticated user (None on a server without users) and whether they
    may see every job (an admin) or only their own."""

    user: str | None = None
    admin: bool = False

    def may_see(self, record: JobRecord) -> bool:
        return self.user is None or self.admin or record.owner == self.user

    @property
    def owner_filter(self) -> str | None:
        """The owner to list jobs of, or None for all of them."""
        return None if self.user is None or self.admin else self.user

    def owner_query(self, owner: str | None) -> str:
        """What this caller adds to the address of a job of ``owner``: ids are unique per owner
        only, so another user's job (for an admin) is named with ``?owner=`` (empty: no owner)."""
        return "" if owner == self.user else "?owner=" + quote(owner or "", safe="")


ANYONE = Caller()
"""A caller on a server without users: every job is theirs."""


@dataclass(frozen=True)
class Upload:
    """A file sent with a submission: the name the client gave it and its bytes or a local path."""

    name: str
    content: bytes | Path


def parse_json_object(text: str | bytes, what: str) -> dict[str, Any]:
    """``text`` as a JSON object (empty text is ``{}``); ``what`` names it in the refusal."""
    try:
        value = json.loads(text) if text else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidRequest(f"malformed {what}", f"not valid JSON: {error}") from None
    except RecursionError:
        raise InvalidRequest(f"malformed {what}", "the JSON is nested too deeply") from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"malformed {what}", "expected a JSON object")
    return value


def _safe_name(name: str) -> str:
    cleaned = _UNSAFE_NAME.sub("_", Path(name).name).strip("._") or "upload"
    return shorten_name(cleaned)


class JobService:
    """Submission, status, listing, cancellation and results of jobs."""

    def __init__(self, store: JobStore, control: JobControl, settings: JobSettings) -> None:
        self.store = store
        self.control = control
        self.settings = settings

    def submit(
        self,
        op: str,
        params: dict[str, Any],
        uploads: dict[str, Upload],
        options: dict[str, Any] | None = None,
        caller: Caller = ANYONE,
    ) -> JobStatus:
        """Check a submission against the catalog, stage its files and queue it.

        ``uploads`` maps the op's file parameters (``target_media``, ``source_face``) to files;
        job options (``job_id``, ``priority``, ``callback_url``) come in ``options`` or, as the
        catalog allows for ``process``, among its ``params``.
        """
        check_op(op)
        spec = OPS[op]
        if not isinstance(params, dict):
            raise InvalidRequest("invalid params", "params must be a JSON object")
        params = dict(params)
        option_values = dict(options or {})
        for name in _JOB_OPTION_FIELDS:
            if name in params:
                option_values.setdefault(name, params.pop(name))
        try:
            job_options = JobOptions.model_validate(option_values)
        except ValidationError as error:
            raise InvalidRequest("invalid job options", describe_validation(error)) from None
        file_fields = spec.file_fields
        sent_as_values = sorted(name for name in file_fields if params.get(name) is not None)
        if sent_as_values:
            raise InvalidRequest(
                "files must be uploaded",
                f"{', '.join(sent_as_values)} of {op} must be sent as file uploads, not as values: "
                f"a multipart form part named after the parameter (curl -F "
                f"'{sent_as_values[0]}=@photo.jpg'), or in a JSON body "
                f'"files": {{"{sent_as_values[0]}": {{"name": "photo.jpg", "data": "<base64>"}}}} '
                "(see docs/api.md)",
            )
        unexpected = sorted(set(uploads) - set(file_fields))
        if unexpected:
            raise InvalidRequest(
                "unexpected files",
                f"{op} takes files only as {', '.join(file_fields)}; got {', '.join(unexpected)}",
            )
        staging = self.settings.uploads_dir / uuid.uuid4().hex
        try:
            staged = self._stage(staging, uploads)
            parse_params(op, {**params, **staged})
            record = self.store.submit(
                op,
                params,
                staged,
                job_id=job_options.job_id,
                priority=job_options.priority,
                callback_url=job_options.callback_url,
                owner=caller.user,
            )
        except JobConflict as error:
            shutil.rmtree(staging, ignore_errors=True)
            raise Conflict("duplicate job_id", str(error)) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self.control.wake()
        return self.status_document(record, caller)

    def _stage(self, staging: Path, uploads: dict[str, Upload]) -> dict[str, str]:
        staged: dict[str, str] = {}
        total = 0
        for field_name, upload in uploads.items():
            folder = staging / field_name
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / _safe_name(upload.name)
            if isinstance(upload.content, Path):
                total += upload.content.stat().st_size
                if total > self.settings.max_upload_bytes:
                    raise self._too_large()
                shutil.copyfile(upload.content, target)
            else:
                total += len(upload.content)
                if total > self.settings.max_upload_bytes:
                    raise self._too_large()
                target.write_bytes(upload.content)
            # Clients often name uploads badly ("blob", no extension): name it by its content.
            staged[field_name] = str(named_by_content(target))
        return staged

    def _too_large(self) -> TooLarge:
        limit = self.settings.max_upload_bytes / 1e6
        return TooLarge("upload too large", f"the files of one job may total {limit:g} MB")

    def record(self, job_id: str, caller: Caller = ANYONE, owner: str | None = None) -> JobRecord:
        """The caller's job called ``job_id``, or :class:`NotFound` (also for another user's job:
        not even its existence is told).

        Ids are unique per owner, so a caller who may see several users' jobs (an admin) and
        finds the id with more than one owner, none of them the caller, names the ``owner``
        (``""`` for a job without one), or is refused.
        """
        visible = [
            record
            for record in self.store.with_id(job_id)
            if caller.may_see(record) and (owner is None or (record.owner or "") == owner)
        ]
        own = [record for record in visible if record.owner == caller.user]
        if len(own) == 1 or len(visible) == 1:
            return (own or visible)[0]
        if not visible:
            raise NotFound("job not found", f"no job with id {job_id!r}")
        owners = ", ".join(sorted(record.owner or "no one (owner '')" for record in visible))
        raise Conflict(
            "ambiguous job_id",
            f"jobs of {owners} are called {job_id!r}; name whose:"
            f" GET /api/jobs/{job_id}?owner=NAME, the owner argument of the gradio endpoint,"
            " or ffpipe jobs ... --owner NAME",
        )

    def status(self, job_id: str, caller: Caller = ANYONE, owner: str | None = None) -> JobStatus:
        """The catalog's Job Status Response for one job."""
        return self.status_document(self.record(job_id, caller, owner), caller)

    def list(
        self,
        status: str | None = None,
        op: str | None = None,
        limit: int = 100,
        caller: Caller = ANYONE,
    ) -> list[dict[str, Any]]:
        """Jobs newest first (the caller's own, or all for an admin): each status document plus
        op, priority, attempts and times."""
        if status is not None and status not in ALL_STATES:
            raise InvalidRequest("invalid status filter", f"{status!r}; one of {ALL_STATES}")
        if not 1 <= limit <= 1000:
            raise InvalidRequest("invalid limit", "limit must be 1-1000")
        return [
            {
                **self.status_document(record, caller).model_dump(mode="json"),
                "op": record.op,
                "priority": record.priority,
                "stage": record.stage,
                "attempts": record.attempts,
                "owner": record.owner,
                "created_at": record.created_at,
                "finished_at": record.finished_at,
            }
            for record in self.store.list(
                status=status, op=op, limit=limit, owner=caller.owner_filter
            )
        ]

    def cancel(self, job_id: str, caller: Caller = ANYONE, owner: str | None = None) -> JobStatus:
        """Cancel a job (see ``JobStore.cancel``); the answer is final. A job that finished first
        is a conflict."""
        record = self.record(job_id, caller, owner)
        if not record.finished:
            record = self.control.cancel(record.key)
            if record.status == JobState.CANCELLED:
                return self.status_document(record, caller)
        # Finished before the cancel (possibly while it was on its way): nothing was cancelled.
        raise Conflict("job already finished", f"job {job_id!r} is {record.status}")

    def result_files(self, record: JobRecord) -> dict[str, Path]:
        """Output files of a completed job, a folder output as a zip of it; a job not completed
        is a conflict."""
        if record.status != JobState.COMPLETED:
            failure = failures.decode(record.error)
            reason = ""
            if failure is not None:
                reason = ": " + ": ".join(text for text in failure.values() if text)
            raise Conflict("job has no result", f"job {record.job_id!r} is {record.status}{reason}")
        files = {name: Path(path) for name, path in (record.outputs or {}).items()}
        return {
            name: self._archive(record.key, name, path) if path.is_dir() else path
            for name, path in files.items()
        }

    def _archive(self, key: str, name: str, folder: Path) -> Path:
        """A folder output as ``<name>.zip``, as the sync endpoints send folders; made once."""
        archives = self.settings.outputs_dir / key / ARCHIVES_FOLDER
        archive = archives / f"{name}{ARCHIVE_SUFFIX}"
        if not archive.exists():
            archives.mkdir(parents=True, exist_ok=True)
            # Packed aside and renamed in: two requests at once never read a half archive.
            with tempfile.TemporaryDirectory(dir=archives) as building:
                packed = pack_outputs({name: folder}, Path(building))[name]
                os.replace(packed, archive)
        return archive

    def result_document(self, record: JobRecord, viewer: Caller) -> dict[str, Any] | None:
        """The ``result`` of a status document for ``viewer``: links to outputs and the op's
        result, or the error."""
        if record.status == JobState.COMPLETED:
            base = (self.settings.public_url or "").rstrip("/")
            whose = viewer.owner_query(record.owner)
            return {
                "files": {
                    name: f"{base}/api/jobs/{record.job_id}/result/{name}{whose}"
                    for name in record.outputs or {}
                },
                "result": record.result,
                "attempts": record.attempts,
                "notes": record.notes,
            }
        if record.status == JobState.FAILED:
            # The same {"error", "detail"} a synchronous route answers for the same failure.
            failure = failures.decode(record.error) or {"error": "failed", "detail": ""}
            return {**failure, "attempts": record.attempts, "notes": record.notes}
        return None

    def status_document(self, record: JobRecord, viewer: Caller = ANYONE) -> JobStatus:
        """The catalog's Job Status Response for ``record`` as ``viewer`` reads it (links name the
        owner when it is not theirs), with its current estimate."""
        estimate = None
        if not record.finished:
            ahead = self.store.queue_position(record.key) if record.status == JobState.QUEUED else 0
            estimate = estimate_seconds(
                record,
                self.store.recent_durations(record.op),
                queued_ahead=ahead,
                workers=self.control.workers,
            )
        return JobStatus(
            job_id=record.job_id,
            status=JobState(record.status),
            progress=record.progress,
            estimated_time=0 if record.finished else estimate,
            result=self.result_document(record, viewer),
        )

    def webhook_body(self, key: str) -> bytes:
        """The exact bytes POSTed to a job's callback: its status document as JSON."""
        record = self.store.get(key)
        document = self.status_document(record, Caller(record.owner)).model_dump(mode="json")
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
