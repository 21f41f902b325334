"""``ffpipe schema``: write the JSON Schemas generated from the models, or check them."""

from __future__ import annotations

import argparse
from pathlib import Path

from ffpipe.errors import UserError
from ffpipe.spec.schema import all_schemas


class SchemaDrift(UserError):
    """Checked-in schemas that no longer match the models."""

    exit_code = 1


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ffpipe schema``."""
    parser.add_argument(
        "--out", type=Path, default=Path("schemas"), help="schema folder (default: schemas)"
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


def run(args: argparse.Namespace) -> int:
    """Write or check the schemas."""
    if args.check:
        stale = drifted(args.out)
        if stale:
            names = ", ".join(str(args.out / name) for name in stale)
            raise SchemaDrift(
                f"schemas differ from the models: {names}; run `make schemas` (ffpipe schema "
                f"--out {args.out}) and commit the result"
            )
        print(f"{args.out}: schemas match the models")
        return 0
    try:
        _write(args.out)
    except OSError as error:
        raise UserError(f"cannot write the schemas to {args.out}: {error}") from None
    print(f"wrote the schemas to {args.out}")
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
