"""``ffpipe cache ls | gc | verify``: look into the workspace cache, prune it, check it.

``ls --remote`` and ``gc --remote`` work on the remote cache of the settings file instead; a
remote collection keeps only what a lock file under the current folder names.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ffpipe.cache.gc import collect
from ffpipe.cache.verify import verify_workspace
from ffpipe.cache.workspace import DEFAULT_ROOT, Workspace
from ffpipe.cli import options
from ffpipe.errors import ExitCode, UserError
from ffpipe.words import noun

if TYPE_CHECKING:
    from ffpipe.cache.remote import RemoteStore


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ``ls``, ``gc`` and ``verify`` subcommands."""
    _add_workspace(parser, default=None)
    actions = parser.add_subparsers(dest="cache_action", metavar="ACTION", required=True)
    listing = actions.add_parser("ls", help="list step entries with their age and size")
    _add_workspace(listing)
    _add_remote(listing, "list the remote cache instead")
    pruning = actions.add_parser("gc", help="remove old or least recently used entries")
    _add_workspace(pruning)
    pruning.add_argument(
        "--max-size",
        type=options.size,
        metavar="SIZE",
        help="shrink the cache to at most SIZE (e.g. 2GB, 500MiB)",
    )
    pruning.add_argument(
        "--older-than",
        type=options.duration,
        metavar="AGE",
        help="drop entries unused for AGE (e.g. 7d, 12h, 90m)",
    )
    pruning.add_argument(
        "--keep-runs",
        type=options.positive_int,
        metavar="N",
        help="also remove run records and reports (runs/) but the N newest of each pipeline",
    )
    pruning.add_argument(
        "--runs-older-than",
        type=options.duration,
        metavar="AGE",
        help="also remove run records and reports (runs/) older than AGE",
    )
    _add_remote(pruning, "prune the remote cache to what the lock files under . name")
    pruning.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    pruning.add_argument(
        "--grace",
        type=_age_or_zero,
        default=3600.0,
        metavar="AGE",
        help="with --remote: keep steps rendered and objects pushed in the last AGE (default 1h)",
    )
    checking = actions.add_parser(
        "verify", help="re-hash every object, remove corrupt ones and the entries using them"
    )
    _add_workspace(checking)


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; ``verify`` exits 1 when it found (and removed) damage."""
    if getattr(args, "remote", False):
        return _remote(args)
    from ffpipe.cli.context import default_workspace, project_here

    root = Path(args.workspace) if args.workspace else default_workspace(project_here())
    if not root.is_dir():
        print(f"no cache at {root} (nothing has run there yet)")
        return 0
    with Workspace(root) as workspace:
        if args.cache_action == "ls":
            return _list(workspace)
        if args.cache_action == "gc":
            return _collect(workspace, args)
        return _verify(workspace)


def _add_remote(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--remote", action="store_true", help=help_text)
    parser.add_argument("--config", type=Path, metavar="FILE", help="settings file (ffpipe.toml)")


def _age_or_zero(text: str) -> float:
    return 0.0 if text.strip() in ("0", "0s") else options.duration(text)


def _remote(args: argparse.Namespace) -> int:
    """``ls --remote`` and ``gc --remote``: the remote named in the settings."""
    from ffpipe.cache.remote import open_remote
    from ffpipe.cli.context import Invocation

    args.remote = None  # the flag, not a URL: the URL comes from the settings
    store = open_remote(Invocation.of(args).needed_remote_url())
    if args.cache_action == "ls":
        return _list_remote(store)
    if args.cache_action == "gc":
        return _collect_remote(store, args)
    raise UserError("verify works on the workspace; downloads from a remote are always verified")


def _list_remote(store: RemoteStore) -> int:
    sizes = {obj.digest: obj.size for obj in store.objects()}
    now = time.time()
    entries = sorted(store.entries(), key=lambda entry: (entry.pipeline, entry.instance_id))
    rows = [
        (
            entry.pipeline,
            entry.instance_id,
            _age(now - entry.created),
            _size(sum(sizes.get(d, 0) for d in entry.outputs.values())),
        )
        for entry in entries
    ]
    _print_table(("PIPELINE", "STEP", "CREATED", "SIZE"), rows)
    print(_contents(len(entries), len(sizes), sum(sizes.values()), store.url))
    return 0


def _collect_remote(store: RemoteStore, args: argparse.Namespace) -> int:
    from ffpipe.cache.remote_gc import collect_remote
    from ffpipe.cli import remote_support

    locks = remote_support.lock_files(Path.cwd())
    keep = remote_support.locked_keys(locks)
    report = collect_remote(store, keep, dry_run=args.dry_run, grace=args.grace)
    verb = "would remove" if args.dry_run else "removed"
    for entry in report.removed_entries:
        print(f"{verb} {entry.pipeline}/{entry.instance_id} ({entry.key})")
    print(
        f"{verb} {len(report.removed_entries)} "
        f"{noun(len(report.removed_entries), 'entry', 'entries')}, "
        f"{report.removed_objects} {noun(report.removed_objects, 'object', 'objects')} "
        f"({_size(report.freed_bytes)}) and {report.removed_leftovers} leftovers; kept "
        f"{report.kept_entries} {noun(report.kept_entries, 'entry', 'entries')} named by "
        f"{len(locks)} lock {noun(len(locks), 'file', 'files')} ({_size(report.kept_bytes)})"
    )
    return 0


def _add_workspace(parser: argparse.ArgumentParser, default: object = argparse.SUPPRESS) -> None:
    parser.add_argument(
        "--workspace",
        metavar="DIR",
        default=default,
        help=f"the workspace folder (default: $FFPIPE_WORKSPACE, else {DEFAULT_ROOT} in the "
        "current folder's project root)",
    )


def _list(workspace: Workspace) -> int:
    store = workspace.objects
    entries = list(workspace.steps.entries())
    now = time.time()
    rows = [
        (
            entry.pipeline,
            entry.instance_id,
            _age(now - entry.last_used),
            _size(sum(store.size(digest) for digest in entry.outputs.values())),
        )
        for entry in reversed(entries)
    ]
    _print_table(("PIPELINE", "STEP", "LAST USED", "SIZE"), rows)
    objects = list(store.iter_objects())
    total = sum(info.size for info in objects)
    print(_contents(len(entries), len(objects), total, workspace.root))
    return 0


def _contents(entries: int, objects: int, total: int, where: object) -> str:
    """The last line of ``cache ls``, local or remote: ``3 entries, 5 objects, 2.1 MB in X``."""
    return (
        f"{entries} {noun(entries, 'entry', 'entries')}, "
        f"{objects} {noun(objects, 'object', 'objects')}, {_size(total)} in {where}"
    )


def _collect(workspace: Workspace, args: argparse.Namespace) -> int:
    report = collect(
        workspace, max_size=args.max_size, older_than=args.older_than, dry_run=args.dry_run
    )
    verb = "would remove" if args.dry_run else "removed"
    for entry in report.removed_entries:
        print(
            f"{verb} {entry.pipeline}/{entry.instance_id} ({_age(time.time() - entry.last_used)})"
        )
    print(
        f"{verb} {len(report.removed_entries)} "
        f"{noun(len(report.removed_entries), 'entry', 'entries')} and "
        f"{report.removed_objects} {noun(report.removed_objects, 'object', 'objects')}, "
        f"{'would free' if args.dry_run else 'freed'} {_size(report.freed_bytes)}; "
        f"{report.remaining_entries} "
        f"{noun(report.remaining_entries, 'entry', 'entries')} and "
        f"{_size(report.remaining_bytes)} left"
    )
    if args.keep_runs is not None or args.runs_older_than is not None:
        _collect_runs(workspace, args, verb)
    return 0


def _collect_runs(workspace: Workspace, args: argparse.Namespace, verb: str) -> None:
    from ffpipe.report.run_retention import prune_runs

    runs = prune_runs(
        workspace.runs_dir,
        keep=args.keep_runs,
        older_than=args.runs_older_than,
        dry_run=args.dry_run,
    )
    for run_id in runs.removed:
        print(f"{verb} run {run_id}")
    print(
        f"{verb} {len(runs.removed)} {noun(len(runs.removed), 'run', 'runs')}, "
        f"{'would free' if args.dry_run else 'freed'} {_size(runs.freed_bytes)}; "
        f"{runs.kept} {noun(runs.kept, 'run', 'runs')} left"
    )


def _verify(workspace: Workspace) -> int:
    report = verify_workspace(workspace)
    for digest in report.corrupt:
        print(f"corrupt object removed: {digest}")
    for entry in report.dropped:
        why = "missing objects" if entry.key in report.missing else "corrupt objects"
        print(f"entry dropped ({why}): {entry.pipeline}/{entry.instance_id} key {entry.key}")
    if report.clean:
        print(f"cache is clean: {report.checked} {noun(report.checked, 'object', 'objects')}")
        return 0
    print(
        f"found {len(report.corrupt)} corrupt {noun(len(report.corrupt), 'object', 'objects')}"
        f" and dropped {len(report.dropped)} {noun(len(report.dropped), 'entry', 'entries')};"
        " the next run recomputes them"
    )
    return ExitCode.FAILED


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    if not rows:
        return
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{max(int(seconds), 0)}s ago"


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
