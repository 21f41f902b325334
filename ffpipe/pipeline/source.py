"""Reading a pipeline file: YAML with the position of every key, duplicate keys refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ffpipe.pipeline.errors import PipelineErrors, SpecError, format_path
from ffpipe.pipeline.instance import Location

Path_ = tuple[str | int, ...]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_VALUES = 200_000
"""Aliases can make a small file expand enormously; past this many values it is refused."""


@dataclass
class SourceTree:
    """A parsed pipeline file: plain values plus the location of every key and list item."""

    file: str
    text: str
    data: Any
    marks: dict[Path_, Location]

    def locate(self, path: Path_) -> Location:
        """Location of ``path``, or of its nearest ancestor the file spells out."""
        for end in range(len(path), 0, -1):
            found = self.marks.get(path[:end])
            if found is not None:
                return found
        return Location(self.file, 1, 1)

    def error(self, path: Path_, message: str, display: str | None = None) -> SpecError:
        """A located error at ``path`` (``display`` overrides the shown key path)."""

        return SpecError(
            self.locate(path), format_path(path) if display is None else display, message
        )


def _location(file: str, mark: Any) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.marks: dict[Path_, Location] = {}
        self.errors: list[SpecError] = []
        self.constructor = yaml.constructor.SafeConstructor()
        self.active: set[int] = set()
        self.count = 0

    def fail(self, mark: Any, path: Path_, message: str) -> None:

        self.errors.append(SpecError(_location(self.file, mark), format_path(path), message))

    def build(self, node: Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise _TooLarge(node)
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            self.fail(node.start_mark, path, "an alias refers to a value that contains it")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return self.sequence(node, path)
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: ScalarNode, path: Path_) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as error:
            self.fail(node.start_mark, path, f"cannot read this value: {_problem(error)}")
        except Exception:
            tag = node.tag.rsplit(":", 1)[-1]
            self.fail(node.start_mark, path, f"cannot read this value as {tag}: {node.value!r}")
        return None

    def sequence(self, node: SequenceNode, path: Path_) -> list[Any]:
        items = []
        for index, child in enumerate(node.value):
            child_path = (*path, index)
            self.marks.setdefault(child_path, _location(self.file, child.start_mark))
            items.append(self.build(child, child_path))
        return items

    def mapping(self, node: MappingNode, path: Path_) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                self.fail(
                    key_node.start_mark,
                    path,
                    "keys must be plain names (no lists, mappings or << merges as keys)",
                )
                continue
            key = str(key_node.value)
            key_path = (*path, key)
            if key in first_seen:
                self.fail(
                    key_node.start_mark,
                    key_path,
                    f"duplicate key {key!r} (first given on line {first_seen[key]})",
                )
                continue
            first_seen[key] = key_node.start_mark.line + 1
            self.marks.setdefault(key_path, _location(self.file, key_node.start_mark))
            result[key] = self.build(value_node, key_path)
        return result


class _TooLarge(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


def _problem(error: BaseException) -> str:
    problem = getattr(error, "problem", None)
    return str(problem or error).strip()


def parse_source(text: str, file: str) -> SourceTree:
    """Parse pipeline YAML; raises :class:`PipelineErrors` for syntax and structure mistakes."""
    sources = {file: text}
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        location = _location(file, mark) if mark else Location(file, 1, 1)
        raise PipelineErrors(
            [SpecError(location, "", _syntax_message(error, text, mark))], sources
        ) from None
    except yaml.YAMLError as error:
        raise PipelineErrors(
            [SpecError(Location(file, 1, 1), "", _problem(error))], sources
        ) from None
    if root is None:
        raise PipelineErrors(
            [
                SpecError(
                    Location(file, 1, 1),
                    "",
                    "the file is empty; a pipeline needs at least version and steps",
                )
            ],
            sources,
        )
    if not isinstance(root, MappingNode):
        raise PipelineErrors(
            [
                SpecError(
                    _location(file, root.start_mark),
                    "",
                    "the top level must be a mapping of keys such as version, name, steps",
                )
            ],
            sources,
        )
    builder = _Builder(file)
    try:
        data = builder.build(root, ())
    except _TooLarge as too_large:
        raise PipelineErrors(
            [
                SpecError(
                    _location(file, too_large.node.start_mark),
                    "",
                    f"the file expands to more than {MAX_VALUES} values (aliases?)",
                )
            ],
            sources,
        ) from None
    except RecursionError:
        raise PipelineErrors(
            [SpecError(Location(file, 1, 1), "", "the file nests values too deeply")], sources
        ) from None
    if builder.errors:
        raise PipelineErrors(builder.errors, sources)
    return SourceTree(file, text, data, builder.marks)


def _syntax_message(error: yaml.MarkedYAMLError, text: str, mark: Any) -> str:
    problem = _problem(error)
    if mark is not None:
        lines = text.splitlines()
        line = lines[mark.line] if mark.line < len(lines) else ""
        if "\t" in line[: len(line) - len(line.lstrip())] or "'\\t'" in problem:
            return (
                f"YAML syntax error: tabs are not allowed for indentation; use spaces ({problem})"
            )
    context = getattr(error, "context", None)
    return f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
