"""The API catalog as pydantic models: the one source of truth for every parameter.

One module per catalog section; :mod:`ffpipe.catalog.ops` combines the groups into the parameter
model of each op. This package imports nothing else of ffpipe.
"""

from ffpipe.catalog.base import FILE_MARK, CatalogModel, parse_resolution
from ffpipe.catalog.jobs import ErrorResponse, JobOptions, JobStatus
from ffpipe.catalog.ops import FRAME_OPS, OP_NAMES, OPS, OpSpec, file_fields, op_spec

__all__ = [
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
