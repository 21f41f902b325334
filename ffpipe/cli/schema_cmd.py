"""``ffpipe schema``: write the JSON Schemas generated from the models, or check them.

The parameter reference (``docs/parameters.md`` beside the schema folder, or ``--docs FILE``) is
generated from the same models and checked with them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ffpipe.errors import UserError
from ffpipe.pipeline.schema import all_schemas


class SchemaDrift(UserError):
    """Checked-in schemas that no longer match the models."""

    exit_code = 1


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ffpipe schema``."""
    parser.add_argument(
        "--out", type=Path, default=Path("schemas"), help="schema folder (default: schemas)"
    )
    parser.add_argument(
        "--docs",
        type=Path,
        metavar="FILE",
        help="parameter reference (default: docs/parameters.md beside the schema folder)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming the files that differ from the models",
    )


def drifted(folder: Path) -> list[str]:
    """Files of ``folder`` that are missing, stale or differ from the generated schemas."""
    expected = all_schemas()
    found = []
    for name, text in expected.items():
        path = folder / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            found.append(name)
    ops = folder / "ops"
    if ops.is_dir():
        found += [
            f"ops/{path.name}"
            for path in sorted(ops.glob("*.schema.json"))
            if f"ops/{path.name}" not in expected
        ]
    return found


def docs_path(args: argparse.Namespace) -> Path:
    """Where the parameter reference goes."""
    return args.docs or args.out.parent / "docs" / "parameters.md"


def _docs_drifted(path: Path) -> list[str]:
    from ffpipe.catalog.reference import parameters_markdown

    current = path.read_text(encoding="utf-8") if path.is_file() else None
    return [] if current == parameters_markdown() else [str(path)]


def run(args: argparse.Namespace) -> int:
    """Write or check the schemas and the parameter reference."""
    if args.check:
        stale = [str(args.out / name) for name in drifted(args.out)]
        stale += _docs_drifted(docs_path(args))
        if stale:
            names = ", ".join(stale)
            raise SchemaDrift(
                f"schemas differ from the models: {names}; run `make schemas` (ffpipe schema "
                f"--out {args.out}) and commit the result"
            )
        print(f"{args.out}, {docs_path(args)}: match the models")
        return 0
    try:
        _write(args.out)
    except OSError as error:
        raise UserError(f"cannot write the schemas to {args.out}: {error}") from None
    _write_docs(docs_path(args))
    print(f"wrote the schemas to {args.out} and the parameter reference to {docs_path(args)}")
    return 0


def _write(folder: Path) -> None:
    """Bring ``folder`` in line with the models: write what differs, drop stale op schemas."""
    expected = all_schemas()
    for name, text in expected.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    for path in sorted((folder / "ops").glob("*.schema.json")):
        if f"ops/{path.name}" not in expected:
            path.unlink()


def _write_docs(path: Path) -> None:
    from ffpipe.catalog.reference import parameters_markdown

    text = parameters_markdown()
    try:
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise UserError(f"cannot write the parameter reference to {path}: {error}") from None
