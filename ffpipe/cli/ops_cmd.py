"""``ffpipe ops [OP] [--markdown]``: the ops, or one op's parameters with type, range or
choices, default and description, from the catalog models."""

from __future__ import annotations

import argparse
import shutil
import textwrap

from ffpipe.errors import UserError


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ffpipe ops``."""
    parser.add_argument("op", nargs="?", metavar="OP", help="show this op's parameters")
    parser.add_argument(
        "--markdown", action="store_true", help="print the whole reference (docs/parameters.md)"
    )


def run(args: argparse.Namespace) -> int:
    """Print the list, one op's table or the Markdown reference."""
    from ffpipe.catalog import OPS
    from ffpipe.catalog.reference import ops_table, parameters, parameters_markdown

    if args.markdown:
        print(parameters_markdown(), end="")
        return 0
    if args.op is None:
        width = max(len(name) for name, _ in ops_table())
        for name, description in ops_table():
            print(f"{name.ljust(width)}  {description}")
        return 0
    if args.op not in OPS:
        raise UserError(f"unknown op {args.op!r}; ops: {', '.join(OPS)}")
    print(f"{args.op}: {OPS[args.op].description}\n")
    columns = shutil.get_terminal_size((100, 24)).columns
    for row in parameters(args.op):
        detail = f"  [{row.allowed}]" if row.allowed else ""
        print(f"{row.name}: {row.type}{detail}  default: {row.default}")
        for line in textwrap.wrap(row.description, width=max(40, columns - 4)):
            print(f"    {line}")
        note = _builtin_notes().get(row.name)
        if note is not None:
            for line in textwrap.wrap(f"builtin engine: {note}", width=max(40, columns - 4)):
                print(f"    {line}")
    return 0


def _builtin_notes() -> dict[str, str]:
    """The builtin engine's approximations and refusals, said beside the parameter."""
    from ffpipe.engine.builtin.capabilities import emulated_parameters, unsupported_parameters

    return {**unsupported_parameters(), **emulated_parameters()}
