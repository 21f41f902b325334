"""What crosses the wire between a run and its cluster workers: one step in, digests out.

Both are plain JSON-shaped documents checked by pydantic at each end. A worker takes only an op
of the catalog with parameters that validate against it and inputs named by digest; the client
takes back only output digests, the op's result document and the worker's name. No code travels
in either document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ffpipe.cache.fingerprint import hex_of
from ffpipe.cache.objects import TREE_PREFIX
from ffpipe.catalog import OPS


def _check_digest(digest: str) -> str:
    hex_of(digest.removeprefix(TREE_PREFIX))
    return digest


def _check_name(name: str) -> str:
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
        raise ValueError(f"not a plain file name: {name!r}")
    return name


class StepTask(BaseModel):
    """One step for a worker: the op, its parameters, its inputs by digest, where to put results."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    op: str
    params: dict[str, Any]
    """The catalog parameters; file fields are filled in on the worker from ``inputs``."""
    inputs: dict[str, str] = Field(default_factory=dict)
    """File field -> artifact digest, read from the remote cache."""
    names: dict[str, str] = Field(default_factory=dict)
    """File field -> the file's name (its extension tells the engine what it is)."""
    key: str
    key_document: dict[str, Any]
    identity: dict[str, str]
    """The engine fields the client keyed the step with; the worker's engine must match them."""
    pipeline: str
    instance_id: str
    remote: str
    """The remote cache URL both sides reach."""
    task_id: str = Field(default="", max_length=200)
    """Names the step's progress messages (the Dask key the client submitted it under)."""

    @field_validator("op")
    @classmethod
    def _known_op(cls, op: str) -> str:
        if op not in OPS:
            raise ValueError(f"unknown op {op!r}")
        return op

    @field_validator("inputs")
    @classmethod
    def _digests(cls, inputs: dict[str, str]) -> dict[str, str]:
        return {name: _check_digest(digest) for name, digest in inputs.items()}

    @field_validator("names")
    @classmethod
    def _names(cls, names: dict[str, str]) -> dict[str, str]:
        return {field: _check_name(name) for field, name in names.items()}

    @field_validator("key")
    @classmethod
    def _key(cls, key: str) -> str:
        return _check_digest(key)

    @model_validator(mode="after")
    def _fields_of_the_op(self) -> StepTask:
        file_fields = set(OPS[self.op].file_fields)
        unknown = sorted(set(self.inputs) - file_fields)
        if unknown:
            raise ValueError(f"{', '.join(unknown)} are not file parameters of {self.op}")
        if set(self.names) != set(self.inputs):
            raise ValueError("every input needs a file name")
        OPS[self.op].params.model_validate({**self.params, **self.placeholders()})
        return self

    def placeholders(self) -> dict[str, str]:
        """The file fields named by their file names, to validate parameters before fetching."""
        return dict(self.names)


class StepDone(BaseModel):
    """What a worker hands back: the outputs by digest, the result document, who ran it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outputs: dict[str, str]
    result: dict[str, Any]
    worker: str
    """The worker's address (``tcp://10.0.0.5:40123``), for the run record."""
    duration: float = 0.0
    """Seconds the op took on the worker (inputs fetched and results pushed excluded)."""

    @field_validator("outputs")
    @classmethod
    def _digests(cls, outputs: dict[str, str]) -> dict[str, str]:
        if "output" not in outputs:
            raise ValueError("the worker returned no primary output")
        return {name: _check_digest(digest) for name, digest in outputs.items()}
