"""Located pipeline errors: each one says file:line:column, the key path and what is wrong."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ffpipe.errors import UserError
from ffpipe.pipeline.instance import Location


@dataclass(frozen=True)
class SpecError:
    """One mistake in a pipeline file."""

    location: Location
    path: str
    """Key path such as ``steps.swap.with.face_mask_blur`` (empty for the whole file)."""
    message: str

    def __str__(self) -> str:
        prefix = f"{self.location}: "
        return prefix + (f"{self.path}: {self.message}" if self.path else self.message)

    def to_json(self) -> dict[str, Any]:
        """The error as ``{file, line, column, path, message}``."""
        return {
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "path": self.path,
            "message": self.message,
        }


class PipelineErrors(UserError):
    """Every error found in one or more pipeline files; ``str()`` is the full report."""

    def __init__(
        self, errors: Iterable[SpecError], sources: Mapping[str, str] | None = None
    ) -> None:
        self.errors: tuple[SpecError, ...] = tuple(
            sorted(
                dict.fromkeys(errors),
                key=lambda e: (e.location.file, e.location.line, e.location.column),
            )
        )
        self.sources: dict[str, str] = dict(sources or {})
        super().__init__(self.report())

    def report(self) -> str:
        """Each error with its source line and a caret under the column."""
        count = len(self.errors)
        lines = [f"{count} error{'s' if count != 1 else ''} in pipeline"]
        for error in self.errors:
            lines.append(str(error))
            source_line = _source_line(self.sources.get(error.location.file), error.location.line)
            if source_line is not None:
                lines.append(f"    {source_line}")
                lines.append("    " + " " * max(error.location.column - 1, 0) + "^")
        return "\n".join(lines)

    def to_json(self) -> list[dict[str, Any]]:
        """The errors as a list of ``{file, line, column, path, message}``."""
        return [error.to_json() for error in self.errors]


def merge_errors(failures: Sequence[PipelineErrors]) -> PipelineErrors:
    """One report of the errors of several files."""
    sources: dict[str, str] = {}
    for failure in failures:
        sources.update(failure.sources)
    return PipelineErrors([e for failure in failures for e in failure.errors], sources)


def _source_line(text: str | None, line: int) -> str | None:
    if text is None:
        return None
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return None
    return lines[line - 1].replace("\t", " ")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a choice is close to ``word``, else an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def format_path(path: Sequence[str | int]) -> str:
    """``("steps", "swap", "with", "regions", 0)`` -> ``steps.swap.with.regions[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
