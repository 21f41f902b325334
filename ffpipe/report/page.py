"""Assemble the report of one run and write it: ``index.html``, ``thumbs/`` and ``files/``."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape

from ffpipe.cache.errors import CacheError
from ffpipe.cache.fingerprint import digest_file
from ffpipe.cache.objects import ObjectStore, is_tree
from ffpipe.cache.workspace import Workspace
from ffpipe.report.dag import Layout, lay_out
from ffpipe.report.pictures import Picture, Pictures
from ffpipe.report.runs import RunRecord, find_run, previous_run
from ffpipe.report.sheets import contact_sheets
from ffpipe.words import plural

REPORT_FOLDER = "report"
STATUS_CLASSES = {"not run": "skipped", "cached (remote)": "cached-remote"}
"""CSS class of each status: ran, cached, cached-remote, failed, skipped."""
MAIN_INPUTS = ("target_media", "source_face")


def status_class(status: str) -> str:
    """The CSS class of a step status (``cached (remote)`` -> ``cached-remote``)."""
    known = STATUS_CLASSES.get(status)
    if known is not None:
        return known
    return "-".join("".join(c if c.isalnum() else " " for c in status.lower()).split())


@dataclass
class FileLink:
    """A file the page links to (a copy inside the report folder) and its picture."""

    name: str
    href: str | None
    picture: Picture = field(default_factory=lambda: Picture("data"))
    note: str = ""


@dataclass
class Param:
    name: str
    value: str
    changed: bool = False
    before: str | None = None
    default: bool = False
    """Written with the op's default value."""
    rendered: str | None = None
    """What a reference (``steps.swap.output``) stood for in this run: the file's name."""


@dataclass
class StepPage:
    """What the page says of one step instance."""

    id: str
    anchor: str
    op: str
    status: str
    status_class: str
    duration: float
    why: list[str]
    substitutions: list[str]
    provenance: list[str]
    """What made the output, when the engine says: versions, model hashes, device."""
    faces_found: Any
    faces_processed: Any
    warnings: list[str]
    error: str | None
    fused_into: str | None
    params: list[Param]
    before: FileLink | None
    after: FileLink | None
    outputs: list[FileLink]


def write_report(
    workspace: Workspace,
    run_id: str | None = None,
    out_dir: Path | None = None,
    compare_href: str | None = None,
) -> Path:
    """Write the report of run ``run_id`` (default: the latest) and return its ``index.html``.

    ``out_dir`` defaults to the run's own folder, ``<workspace>/runs/<id>/report``;
    ``compare_href`` links a compare page written beside the report. Raises
    :class:`~ffpipe.report.runs.RunNotFound`.
    """
    record = find_run(workspace.runs_dir, run_id)
    folder = out_dir or record.folder / REPORT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    builder = _Builder(workspace.objects, folder)
    context = builder.context(record, previous_run(workspace.runs_dir, record))
    environment = Environment(
        loader=PackageLoader("ffpipe.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        keep_trailing_newline=True,
    )
    html = environment.get_template("report.html.j2").render(**context, compare=compare_href)
    page = folder / "index.html"
    temporary = folder / ".index.html.tmp"
    temporary.write_text(html, encoding="utf-8")
    temporary.replace(page)
    return page


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def anchor(node: str) -> str:
    """An HTML id for a step instance (ids of matrix instances hold brackets and commas)."""
    return "step-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in node)


class _Builder:
    def __init__(self, objects: ObjectStore, folder: Path) -> None:
        self.objects = objects
        self.folder = folder
        self.pictures = Pictures(folder)
        self.copies: dict[str, str] = {}
        """Digest -> the copy's path relative to the report folder."""

    def context(self, record: RunRecord, previous: RunRecord | None) -> dict[str, Any]:
        document = record.document
        steps = record.steps
        order = [n for n in document.get("step_order", []) if n in steps]
        order += [n for n in steps if n not in order]
        before = previous.steps if previous is not None else {}
        pages = {node: self._step(node, steps[node], before.get(node)) for node in order}
        layout = self._layout(order, steps, pages)
        sheets = contact_sheets(order, steps, document.get("matrix_axes", []))
        return {
            "run": document,
            "run_id": record.run_id,
            "started": time.strftime(
                "%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(document.get("started") or 0))
            ),
            "previous": previous.run_id if previous is not None else None,
            "steps": [pages[node] for node in order],
            "pages": pages,
            "layout": layout,
            "sheets": sheets,
            "cell": lambda node: pages.get(node) if node else None,
            "outputs": self._pipeline_outputs(document.get("outputs", {})),
            "counts": _counts(pages.values()),
        }

    def _layout(
        self, order: list[str], steps: Mapping[str, Any], pages: Mapping[str, StepPage]
    ) -> Layout:
        needs = {node: steps[node].get("needs", []) for node in order}
        status = {node: pages[node].status_class for node in order}
        detail = {node: _box_detail(pages[node]) for node in order}
        return lay_out(order, needs, status, detail)

    def _step(
        self, node: str, step: Mapping[str, Any], earlier: Mapping[str, Any] | None
    ) -> StepPage:
        status = str(step.get("status", ""))
        outputs = self._outputs(step)
        before = self._main_input(step)
        after = next((link for link in outputs if link.name == "output"), None)
        if step.get("op") == "detect" and before is not None and after is not None:
            after = self._faces_drawn(before, after)
        return StepPage(
            id=node,
            anchor=anchor(node),
            op=str(step.get("op", "")),
            status=status,
            status_class=status_class(status),
            duration=float(step.get("duration") or 0.0),
            why=[str(reason) for reason in step.get("why", [])],
            substitutions=[_substitution(item) for item in step.get("substitutions", [])],
            provenance=provenance_lines(step.get("provenance")),
            faces_found=step.get("faces_found"),
            faces_processed=step.get("faces_processed"),
            warnings=[str(item) for item in step.get("warnings", [])],
            error=step.get("error"),
            fused_into=step.get("fused_into"),
            params=_params(step, earlier),
            before=before,
            after=after,
            outputs=outputs,
        )

    def _faces_drawn(self, image: FileLink, document: FileLink) -> FileLink:
        """A detect step's result as its faces' boxes drawn on the image it looked at."""
        if image.href is None or document.href is None:
            return document
        try:
            found = json.loads((self.folder / document.href).read_text(encoding="utf-8"))
            boxes = [list(map(float, face["box"])) for face in found.get("faces", [])]
            size = (int(found["width"]), int(found["height"]))
        except (OSError, ValueError, KeyError, TypeError):
            return document
        picture = self.pictures.with_boxes(self.folder / image.href, boxes, size)
        note = f"{plural(len(boxes), 'face')} boxed"
        return FileLink(document.name, document.href, picture, note)

    def _main_input(self, step: Mapping[str, Any]) -> FileLink | None:
        inputs = step.get("inputs", {})
        name = next((n for n in MAIN_INPUTS if n in inputs), next(iter(inputs), None))
        if name is None:
            return None
        entry = inputs[name]
        digest = str(entry.get("digest") or "")
        path = Path(entry["path"]) if entry.get("path") else None
        # The cache's copy first: the file at the input's path may have been edited since.
        stored = self._stored(digest)
        if stored is not None:
            return self._link(name, digest, stored, path.name if path else stored.name)
        if path is None or not path.exists():
            return FileLink(name, None, note="no longer on disk")
        if digest and path.is_file() and digest_file(path) != digest:
            return FileLink(name, None, note="input changed since this run")
        return self._link(name, digest, path, path.name)

    def _outputs(self, step: Mapping[str, Any]) -> list[FileLink]:
        names = step.get("file_names", {})
        links = []
        for name, digest in sorted(step.get("outputs", {}).items(), key=lambda i: i[0] != "output"):
            path = self._stored(digest)
            if path is None:
                links.append(FileLink(name, None, note="gone from the cache"))
                continue
            links.append(self._link(name, digest, path, names.get(name) or name))
        return links

    def _stored(self, digest: str | None) -> Path | None:
        if not digest:
            return None
        try:
            return self.objects.path(digest)
        except (CacheError, ValueError):
            return None

    def _link(self, name: str, digest: str, path: Path, file_name: str) -> FileLink:
        """Copy ``path`` into ``files/`` once per digest and link to the copy."""
        key = digest or str(path)
        if key not in self.copies:
            tag = (digest.rsplit(":", 1)[-1] or "x")[:12]
            safe = Path(file_name).name or "file"
            relative = f"files/{tag}/{safe}"
            target = self.folder / relative
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                # A cache object is linked (it never changes); anything else is copied, once.
                cached = path.resolve().is_relative_to(self.objects.root.resolve())
                copy = _link_or_copy if cached else shutil.copyfile
                if path.is_dir():
                    shutil.copytree(path, target, copy_function=copy)
                else:
                    copy(path, target)
            self.copies[key] = relative
        relative = self.copies[key]
        picture = self.pictures.of(self.folder / relative)
        note = "folder" if is_tree(digest) else picture.note
        # Quoted: a file named with '#', '?' or '%' is still the file linked to.
        return FileLink(name, quote(relative), picture, note)

    def _pipeline_outputs(self, outputs: Mapping[str, str]) -> list[FileLink]:
        """Every output of the run, linked to the copy of the step output it holds."""
        links = []
        for name, where in sorted(outputs.items()):
            path = Path(where)
            if not path.exists():
                links.append(FileLink(name, None, note=f"{where} (no longer there)"))
                continue
            digest = digest_file(path) if path.is_file() else ""
            # The cache's object when it has one: out/ may be rewritten by the next run.
            link = self._link(name, digest, self._stored(digest) or path, path.name)
            link.note = f"{where} {link.note}".strip()
            links.append(link)
        return links


def _params(step: Mapping[str, Any], earlier: Mapping[str, Any] | None) -> list[Param]:
    """Every parameter the pipeline wrote for the step (a failed step's too), input files and
    values from other steps by reference, each marked when it changed since the last run."""
    old_params = (earlier or {}).get("params")
    if isinstance(old_params, dict) and isinstance((earlier or {}).get("written"), dict):
        old_params = {**earlier["written"], **old_params}  # type: ignore[index]
    old_inputs = (earlier or {}).get("inputs")
    written = step.get("written")
    if not isinstance(written, dict):  # a record from before "written" was kept
        written = {**step.get("params", {})}
    at_default = set(step.get("at_default") or ())
    inputs = step.get("inputs", {})
    rows = []
    for name in sorted(set(written) | set(inputs)):
        entry = inputs.get(name)
        if entry is not None:
            rows.append(_input_row(name, entry, written.get(name), old_inputs))
            continue
        value = written[name]
        rendered = step.get("params", {}).get(name, value)
        changed, before = False, None
        if isinstance(old_params, dict):
            changed = name not in old_params or old_params[name] != rendered
            before = _text(old_params[name]) if changed and name in old_params else None
        shown = _text(value)
        param = Param(name, shown, changed, before, default=name in at_default)
        if _text(rendered) != shown:
            param.rendered = _text(rendered)
        rows.append(param)
    return rows


def _input_row(name: str, entry: Mapping[str, Any], written: Any, old_inputs: Any) -> Param:
    """An input file: as written when it is a reference to another step, else its name."""
    file_name = Path(entry.get("path") or "").name or str(entry.get("digest"))
    reference = isinstance(written, str) and written.startswith("steps.")
    changed, before = False, None
    if isinstance(old_inputs, dict):
        old = old_inputs.get(name) or {}
        changed = old.get("digest") != entry.get("digest")
        before = Path(old.get("path") or "").name or None if changed else None
        if reference and changed:
            before = "another output"
    if reference:
        return Param(name, written, changed, before, rendered=file_name)
    return Param(name, file_name, changed, before)


def provenance_lines(made: Any) -> list[str]:
    """A step's provenance as short lines: engine and version, models, ffmpeg, runtime, device."""
    if not isinstance(made, Mapping):
        return []
    lines = []
    facefusion = made.get("facefusion") or {}
    if facefusion:
        commit = facefusion.get("commit")
        lines.append(
            f"FaceFusion {facefusion.get('version')}"
            + (f" (commit {commit[:12]})" if commit else "")
        )
    models = made.get("models") or {}
    if models:
        lines.append("models: " + ", ".join(f"{name} {digest}" for name, digest in models.items()))
    ffmpeg = made.get("ffmpeg") or {}
    if ffmpeg:
        workaround = ffmpeg.get("workaround")
        lines.append(f"ffmpeg {ffmpeg.get('version')}" + (f" ({workaround})" if workaround else ""))
    runtime = made.get("onnxruntime") or {}
    if runtime:
        providers = ", ".join(runtime.get("providers") or [])
        lines.append(f"onnxruntime {runtime.get('version')} ({providers})")
    used = ", ".join(made.get("execution_providers") or [])
    device = made.get("device")
    if used or device is not None:
        lines.append(f"ran on {used or '?'}" + (f", device {device}" if device is not None else ""))
    return lines


def _substitution(item: Any) -> str:
    if isinstance(item, dict):
        text = f"{item.get('requested')} → {item.get('used')}"
        return text + (f" ({item['reason']})" if item.get("reason") else "")
    return str(item)


def _box_detail(page: StepPage) -> str:
    duration = f"{page.duration:.2f}s" if page.duration else ""
    return " · ".join(part for part in (page.op, page.status, duration) if part)


def _counts(pages: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for page in pages:
        counts[page.status] = counts.get(page.status, 0) + 1
    return counts


def _link_or_copy(source: Path | str, target: Path | str) -> None:
    """A relative symbolic link to ``source`` (a cache object, never written in place), or a
    copy where links cannot be made. Not a hard link: that would change the object's ctime,
    which the no-op check of the next run reads."""
    try:
        os.symlink(os.path.relpath(source, Path(target).parent), target)
    except OSError:
        shutil.copyfile(source, target)
