"""The API catalog as pydantic models: the one source of truth for every parameter.

One module per catalog section; :mod:`ffpipe.catalog.ops` combines the groups into the parameter
model of each op, with the facts of each op. This package imports nothing else of ffpipe but
the bottom modules (:mod:`ffpipe.media`, to name an op's output).
"""

from ffpipe.catalog.base import FILE_MARK, CatalogModel, parse_resolution
from ffpipe.catalog.jobs import ErrorResponse, JobOptions, JobStatus
from ffpipe.catalog.ops import (
    ENDPOINT_ORDER,
    FRAME_OPS,
    OP_NAMES,
    OPS,
    OpSpec,
    file_fields,
    op_spec,
)

__all__ = [
    "ENDPOINT_ORDER",
    "FILE_MARK",
    "FRAME_OPS",
    "OPS",
    "OP_NAMES",
    "CatalogModel",
    "ErrorResponse",
    "JobOptions",
    "JobStatus",
    "OpSpec",
    "file_fields",
    "op_spec",
    "parse_resolution",
]
