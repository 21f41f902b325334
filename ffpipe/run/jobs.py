"""When a step runs as a server job, under which job id, and with which options.

A step is submitted as a job when it asks to be (``async: true``) or when the catalog requires it
(video targets longer than ten seconds), provided the backend has a job queue. The job id is
derived from the step's cache key, so a restarted run reattaches to the job it submitted before
instead of submitting the same work again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ffpipe import media

_JOB_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://ffpipe.invalid/jobs")


def job_id_for(key: str) -> str:
    """The job id of the step with cache key ``key``: the same in every run."""
    return str(uuid.uuid5(_JOB_NAMESPACE, key))


def job_options(job: Mapping[str, Any]) -> dict[str, Any]:
    """The step's ``job:`` options the backend forwards (priority, callback_url).

    The id is always :func:`job_id_for` the key, so it is not among them.
    """
    return {name: value for name, value in job.items() if name != "job_id" and value is not None}


def requires_job(params: Mapping[str, Any]) -> bool:
    """Whether the catalog requires these parameters to run as a job: a long video target."""
    target = params.get("target_media")
    return isinstance(target, str) and media.requires_job(target)
