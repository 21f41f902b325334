"""The shape of a pipeline file as pydantic models (also the source of its JSON Schema)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ffpipe.catalog import JobOptions
from ffpipe.catalog.ops import OpName

IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]
ParamType = Literal["string", "integer", "number", "boolean", "array", "object"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ParamDecl(_Strict):
    """A typed pipeline parameter, overridable with ``-p name=value``."""

    type: ParamType = Field(default="string", description="Type of the value.")
    default: Any = Field(
        default=None, description="Value used when no -p override is given; none: required."
    )
    description: str = Field(default="", description="What the parameter controls.")
    minimum: float | None = Field(default=None, description="Smallest allowed number.")
    maximum: float | None = Field(default=None, description="Largest allowed number.")
    enum: list[Any] | None = Field(default=None, description="The allowed values.")


class RetryDecl(_Strict):
    """Retries of transient failures with exponential backoff."""

    attempts: int = Field(default=3, ge=1, le=100, description="Total attempts, 1-100.")
    backoff: float = Field(default=1.0, ge=0.0, le=3600.0, description="First wait, seconds.")
    factor: float = Field(default=2.0, ge=1.0, le=10.0, description="Growth of each wait.")
    max_backoff: float = Field(
        default=30.0, ge=0.0, le=86400.0, description="Longest wait, seconds."
    )


class StepDecl(_Strict):
    """One step: an op of the catalog and its parameters."""

    uses: OpName = Field(description="The op this step runs.")
    with_: dict[str, Any] = Field(
        default_factory=dict, alias="with", description="Parameters of the op (catalog names)."
    )
    needs: list[Identifier] | Identifier = Field(
        default_factory=list, description="Steps that must run first (besides references)."
    )
    if_: bool | str = Field(
        default=True,
        alias="if",
        description="Run the step only when this is true; a '{{ ... }}' template may read the "
        "results of earlier steps.",
    )
    retry: RetryDecl | Annotated[int, Field(ge=1, le=100)] | None = Field(
        default=None, description="Retries of transient failures; an int is the total attempts."
    )
    timeout: float | None = Field(default=None, gt=0.0, description="Time limit in seconds.")
    cache: bool = Field(default=True, description="Reuse a cached result when the key matches.")
    async_: bool = Field(
        default=False, alias="async", description="Submit as a server job and wait for it."
    )
    job: JobOptions | None = Field(default=None, description="Options of the submitted job.")
    description: str = Field(default="", description="What the step is for.")


MatrixValues = list[Any] | str


class MatrixDecl(_Strict):
    """Axes (name -> list of values, or a glob of files) whose product fans the steps out."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, MatrixValues] = Field(init=False)  # type: ignore[assignment]

    include: list[dict[str, Any]] = Field(
        default_factory=list, description="Extra combinations, each giving every axis."
    )
    exclude: list[dict[str, Any]] = Field(
        default_factory=list, description="Combinations to drop: each matches on the keys given."
    )


class PipelineHead(_Strict):
    """Every top-level key of a pipeline file, with the steps not looked into yet."""

    version: Literal[1] = Field(description="Version of the pipeline format.")
    name: str | None = Field(default=None, description="Name; defaults to the file's stem.")
    description: str = Field(default="", description="What the pipeline makes.")
    params: dict[Identifier, ParamDecl] = Field(
        default_factory=dict, description="Typed parameters, read as {{ params.NAME }}."
    )
    inputs: dict[Identifier, str | list[str]] = Field(
        default_factory=dict,
        description="Input files: paths relative to this file, globs or http(s) URLs; read as "
        "{{ inputs.NAME }}.",
    )
    defaults: dict[str, Any] = Field(
        default_factory=dict,
        description="Catalog parameters applied to every step whose op takes them ('with' wins).",
    )
    matrix: MatrixDecl | None = Field(default=None, description="Fan the steps out.")
    steps: dict[Identifier, dict[str, Any]] = Field(min_length=1, description="The steps.")
    outputs: dict[str, str] = Field(
        default_factory=dict,
        description="Output name -> the artifact copied there, e.g. '{{ steps.swap.output }}'.",
    )


class PipelineDecl(PipelineHead):
    """A pipeline file."""

    steps: dict[Identifier, StepDecl] = Field(  # type: ignore[assignment]
        min_length=1, description="The steps, by id."
    )
