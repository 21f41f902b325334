"""``ffpipe graph FILE``: draw the DAG as mermaid or dot."""

from __future__ import annotations

import argparse
from pathlib import Path

from ffpipe.cli import options
from ffpipe.cli.context import Invocation
from ffpipe.errors import UserError
from ffpipe.graph import build_graph, select, to_dot, to_mermaid


def register(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ffpipe graph``."""
    parser.add_argument("file", type=Path, metavar="FILE", help="pipeline file")
    parser.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    parser.add_argument(
        "--target", action="append", default=[], metavar="STEP", help="draw only what STEP needs"
    )
    parser.add_argument(
        "--downstream", action="store_true", help="with --target, also draw what follows it"
    )
    parser.add_argument("-o", "--out", type=Path, help="write to this file instead of stdout")
    options.add_params(parser)


def run(args: argparse.Namespace) -> int:
    """Print (or write) the drawing."""
    pipeline = Invocation.of(args, [args.file]).load(args.file)
    graph = build_graph(pipeline)
    if args.target:
        graph = graph.subgraph(select(graph, args.target, args.downstream)).copy()
    text = (to_mermaid if args.format == "mermaid" else to_dot)(graph, pipeline)
    if args.out:
        try:
            args.out.write_text(text, encoding="utf-8")
        except OSError as error:
            raise UserError(f"cannot write {args.out}: {error.strerror or error}") from None
    else:
        print(text, end="")
    return 0
