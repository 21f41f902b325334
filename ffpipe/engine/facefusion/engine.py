"""The ``facefusion`` engine: catalog ops on a real FaceFusion 3.8 install, through its worker.

Every request is checked first (refused parameters, missing models), then FaceFusion analyses the
target (its faces and size), then the worker runs the passes :func:`.arguments.plan_request`
plans. This module only executes: what to run is decided in :mod:`.arguments`, what the engine
offers in :mod:`.capabilities`. Result documents have the builtin engine's shape, plus
``emulated`` (and the same lines in ``warnings``) and ``facefusion`` (version, processors,
arguments).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ffpipe.catalog import OPS, CatalogModel
from ffpipe.engine.api import (
    Engine,
    EngineError,
    EngineOutput,
    FaceNotFoundError,
    MediaError,
    RunContext,
    UnsupportedError,
    check_target,
)
from ffpipe.engine.facefusion import arguments as ff_args
from ffpipe.engine.facefusion import capabilities as caps
from ffpipe.engine.facefusion import models
from ffpipe.engine.facefusion.arguments import Request
from ffpipe.engine.facefusion.checkout import Checkout, CheckoutError, open_checkout
from ffpipe.engine.facefusion.ffmpeg import MissingPrograms, WorkerFfmpeg
from ffpipe.engine.facefusion.process import WorkerError, WorkerProcess


class FaceFusionEngine(Engine):
    """Drives the FaceFusion checkout at ``root`` with its own Python (``python``, else its venv).

    The worker starts on first use and stays up; :meth:`close` stops it. ``strict_models``
    refuses any request whose model files are not present; ``allow_downloads`` lets FaceFusion
    fetch missing models as it normally would (off by default: nothing leaves the machine).
    ``ffmpeg`` names the ffmpeg FaceFusion uses (else its environment's, else PATH's); one that
    breaks FaceFusion's video reads is worked around with a shim unless ``ffmpeg_workaround`` is
    off, and video ops are refused when nothing helps. ``device`` pins the worker to one GPU
    (``CUDA_VISIBLE_DEVICES``; FaceFusion then sees it as device 0).
    """

    name = caps.ENGINE_NAME
    max_parallel = 1
    """FaceFusion keeps one process-wide state: its worker runs one request at a time."""

    def __init__(
        self,
        root: Path | str,
        python: Path | str | None = None,
        *,
        strict_models: bool = False,
        allow_downloads: bool = False,
        stall_timeout: float = 600.0,
        ffmpeg: Path | str | None = None,
        ffmpeg_workaround: bool = True,
        device: str | None = None,
    ) -> None:
        self.checkout: Checkout = open_checkout(root, python)
        self.version = self.checkout.version
        self.strict_models = strict_models
        self.models = models.ModelFiles(self.checkout.models_dir, allow_downloads=allow_downloads)
        self.ffmpeg = WorkerFfmpeg(
            self.checkout.python,
            Path(ffmpeg) if ffmpeg is not None else None,
            workaround=ffmpeg_workaround,
        )
        try:
            self.ffmpeg.check_programs()
        except MissingPrograms as error:
            raise CheckoutError(str(error)) from None
        self.device = device
        self.worker = WorkerProcess(
            self.checkout,
            allow_downloads=allow_downloads,
            stall_timeout=stall_timeout,
            path_prefix=self.ffmpeg.path_prefix,
            environment={"CUDA_VISIBLE_DEVICES": device} if device is not None else None,
        )
        self._description: dict[str, Any] | None = None
        self._loaded: dict[str, str] = {}
        """Model file -> the hash it had when the worker last ran with it."""
        self._lock = threading.Lock()
        self._fresh = True
        """The next worker request starts a new catalog request (FaceFusion's caches go)."""

    # what the engine is

    def start(self) -> None:
        """Start the worker now (it otherwise starts with the first request)."""
        self._describe()

    def _describe(self) -> dict[str, Any]:
        if self._description is None:
            self._description = caps.describe(self.worker)
        return self._description

    @property
    def providers(self) -> list[str]:
        return list(self._describe()["execution_providers"])

    @property
    def encoders(self) -> list[str]:
        return list(self._describe()["encoders"]["video"])

    def platform(self) -> dict[str, str]:
        """CPU level, FaceFusion's version and its execution providers (the GPU's, when one is
        used: onnxruntime on a GPU gives other bytes than on the CPU), once the worker has said
        them."""
        found = super().platform()
        if self._description is not None:
            found["facefusion"] = str(self._description["version"])
            found["execution_providers"] = ",".join(self.providers)
            gpu = [provider for provider in self.providers if provider != "cpu"]
            if gpu:
                found["gpu"] = ",".join(gpu)
        return found

    def capabilities(self) -> dict[str, Any]:
        """Version, ops, every model's status, providers, encoders and every parameter's status."""
        document = caps.document(
            version=self.version,
            description=self._describe(),
            model_files=self.models,
            strict_models=self.strict_models,
        )
        document["ffmpeg"] = self.ffmpeg.probe().document()
        document["platform"] = self.platform()
        return document

    # cache identity and up-front checks

    def step_models(self, op: str, params: Mapping[str, Any]) -> dict[str, str]:
        """``{model file: its .hash}`` of every model a step of ``op`` uses (for its cache key)."""
        return caps.step_models(self.models, op, params)

    def check(self, steps: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
        """Problems of a plan of (op, known parameters), found before anything runs."""
        problems = []
        for op, known in steps:
            spec = OPS.get(op)
            if spec is None:
                continue
            problems += ff_args.refused_values(op, known)
            video_problem = self.ffmpeg.probe().video_problem if spec.needs_video else None
            if video_problem:
                problems.append(f"{op}: {video_problem}")
            if self.strict_models:
                params = spec.params.model_construct(**dict(known))
                missing = self.models.unusable(ff_args.files_for(op, params))
                if missing:
                    problems.append(
                        f"{op}: FaceFusion model files not present: {', '.join(missing)} "
                        "(--strict-models)"
                    )
        return problems

    # running

    def run(self, op: str, params: CatalogModel, context: RunContext) -> EngineOutput:
        """Run ``op`` on FaceFusion; ``params`` is its catalog model (a mapping is validated)."""
        spec = OPS.get(op)
        if spec is None:
            raise UnsupportedError(f"unknown op {op!r}; known ops: {', '.join(OPS)}")
        if not isinstance(params, spec.params):
            params = spec.params.model_validate(params)
        # The worker runs in FaceFusion's folder: every path it sees must be absolute.
        absolute = {
            name: os.path.abspath(getattr(params, name))
            for name in spec.file_fields
            if getattr(params, name) is not None
        }
        if self.device is not None and "execution_device_id" in spec.params.model_fields:
            # The worker sees only its own GPU (CUDA_VISIBLE_DEVICES): FaceFusion's device 0.
            absolute["execution_device_id"] = "0"
        params = params.model_copy(update=absolute)
        context = replace(context, out_dir=Path(os.path.abspath(context.out_dir)))
        with self._lock:
            self._fresh = True
            output = self._run(op, params, context)
        output.result["provenance"] = self.provenance(op, params)
        return output

    def provenance(self, op: str, params: Any) -> dict[str, Any]:
        """What made a result: FaceFusion's version and commit, the model files with their
        hashes, ffmpeg, onnxruntime and its providers, and the device."""
        description = self._describe()
        ffmpeg = self.ffmpeg.probe()
        return {
            "engine": self.name,
            "facefusion": {"version": self.version, "commit": self.checkout.commit},
            "models": self.models.digests(ff_args.files_for(op, params)),
            "ffmpeg": {"version": ffmpeg.version, "workaround": ffmpeg.workaround},
            "onnxruntime": description.get("onnxruntime"),
            "execution_providers": [getattr(params, "face_detector_device", "cpu")],
            "device": self.device if self.device is not None else params.execution_device_id,
        }

    def _run(self, op: str, params: Any, context: RunContext) -> EngineOutput:
        target = Path(params.target_media)
        context.check_cancelled()
        probe = self._request("probe", {"path": str(target)}, context)
        is_video = probe["kind"] == "video"
        if probe["kind"] is None:
            raise MediaError(
                f"target_media {target.name} is neither an image nor a video FaceFusion reads"
            )
        video_problem = self.ffmpeg.probe().video_problem if is_video else None
        if video_problem:
            raise UnsupportedError(video_problem)
        problems = ff_args.refusals(
            op, params, providers=self.providers, encoders=self.encoders, target_is_video=is_video
        )
        if problems:
            raise UnsupportedError("FaceFusion 3.8.1 cannot honour: " + "; ".join(problems))
        self._check_models(ff_args.files_for(op, params))
        context.out_dir.mkdir(parents=True, exist_ok=True)
        check_target(op, target.name, is_video)
        output = self._dispatch(op, params, target, probe, context)
        return self._with_ffmpeg_note(output) if is_video else output

    def _dispatch(
        self, op: str, params: Any, target: Path, probe: dict[str, Any], context: RunContext
    ) -> EngineOutput:
        spec = OPS[op]
        if spec.writes == "media":
            return self._face_op(op, params, target, probe, context)
        facts = ff_args.Target(
            is_video=probe["kind"] == "video",
            width=int(probe["width"]),
            height=int(probe["height"]),
        )
        request = ff_args.plan_request(op, params, facts, out_dir=context.out_dir)
        if spec.writes == "json":
            return self._detect(request, params, context)
        if spec.writes == "frames":
            return self._extract(request, params, context)
        return self._video_only(request, params, context)

    def _with_ffmpeg_note(self, output: EngineOutput) -> EngineOutput:
        """A video result says so when FaceFusion's ffmpeg needed the shim (never silently)."""
        note = self.ffmpeg.probe().note
        if note:
            output.result["emulated"].append(note)
            output.result["warnings"].append(f"emulated on FaceFusion: {note}")
        return output

    def _request(
        self, kind: str, payload: dict[str, Any], context: RunContext, frames: bool = False
    ) -> dict[str, Any]:
        def progress(done: int, total: int, stage: str) -> None:
            if frames and total and stage == "frames":
                context.report(0.15 + 0.8 * done / total, f"frames {done}/{total}")
            elif total:
                context.report(0.1, f"{stage} {done}/{total}")
            context.check_cancelled()

        if self._fresh:
            payload = {**payload, "fresh": True}
            self._fresh = False
        try:
            return self.worker.request(kind, payload, progress=progress, cancel=context.cancel)
        except WorkerError as error:
            raise EngineError(f"FaceFusion: {error}") from None

    def _check_models(self, files: list[str]) -> None:
        missing = self.models.unusable(files)
        if missing and not self.models.allow_downloads:
            raise UnsupportedError(
                f"FaceFusion model files not present in {self.checkout.models_dir}: "
                f"{', '.join(missing)}; put them there (each NAME.onnx with its NAME.hash), or "
                "let FaceFusion download them (--facefusion-downloads)"
            )
        digests = self.models.digests(files)
        if any(self._loaded.get(name, digest) != digest for name, digest in digests.items()):
            # A model file was replaced: the worker's loaded sessions hold the old one.
            self.worker.request("reset")
        self._loaded.update(digests)

    def _faces(self, params: Any, path: Path, context: RunContext, **extra: Any) -> dict[str, Any]:
        payload = {"argv": ff_args.analysis_arguments(params), "path": str(path), **extra}
        return self._request("faces", payload, context)

    def _detect(self, request: Request, params: Any, context: RunContext) -> EngineOutput:
        context.report(0.2, "detect")
        answer = self._request(
            "faces", {"argv": request.analysis, "path": str(params.target_media)}, context
        )
        documents = [{"index": number, **face} for number, face in enumerate(answer["faces"])]
        result: dict[str, Any] = {
            "faces": documents,
            "face_count": len(documents),
            "width": answer["width"],
            "height": answer["height"],
        }
        request.output.write_text(json.dumps(result, indent=2) + "\n")
        context.report(1.0, "done")
        return self._output(request, result, request.notes)

    def _face_op(
        self, op: str, params: Any, target: Path, probe: dict[str, Any], context: RunContext
    ) -> EngineOutput:
        is_video = probe["kind"] == "video"
        context.report(0.05, "faces")
        faces = self._faces(
            params,
            target,
            context,
            min_faces=ff_args.reference_position(params) + 1,
            start=params.trim_frame_start or 0,
        )
        ff_args.check_faces(params, faces["faces"], f"target_media {target.name}")
        facts = ff_args.Target(
            is_video=is_video,
            width=int(probe["width"]),
            height=int(probe["height"]),
            faces=faces["faces"],
            reference_frame=int(faces["frame"] or 0),
        )
        with tempfile.TemporaryDirectory(prefix="ffpipe-ff-") as scratch:
            source, source_notes = self._source(op, params, Path(scratch), context)
            request = ff_args.plan_request(
                op, params, facts, out_dir=context.out_dir, scratch=Path(scratch), source=source
            )
            self._run_passes(request, params, is_video, context)
            last = request.passes[-1]
            if is_video:
                result = self._video_result(request.output, params, context)
                # FaceFusion does not count per frame: what is known is the reference frame.
                selected = len(ff_args.processed_faces(params, faces["faces"]))
                result["reference_frame"] = facts.reference_frame
                result["reference_frame_faces"] = len(faces["faces"])
                result["reference_frame_faces_selected"] = selected
            else:
                result = self._image_result(last.result, request.output, params, last.call, context)
                result["faces_detected"] = len(faces["faces"])
                result["faces_processed"] = len(ff_args.processed_faces(params, faces["faces"]))
            result["facefusion_processors"] = [
                name for made in request.passes for name in made.call.processors
            ]
            context.report(1.0, "done")
            return self._output(request, result, [*source_notes, *request.notes])

    def _run_passes(
        self, request: Request, params: Any, is_video: bool, context: RunContext
    ) -> None:
        """Run every pass in the worker, blending an edit with the image before it as planned."""
        for number, made in enumerate(request.passes):
            self._check_models(made.call.files)
            context.report(0.15 + 0.8 * number / len(request.passes), "facefusion")
            self._request("run", {"argv": made.call.argv}, context, frames=is_video)
            if made.blended is not None:
                self._request(
                    "blend",
                    {
                        "base": made.reads,
                        "edited": str(made.writes),
                        "out": str(made.blended),
                        "factor": params.face_editor_blend,
                    },
                    context,
                )

    def _source(
        self, op: str, params: Any, scratch: Path, context: RunContext
    ) -> tuple[str | None, list[str]]:
        """The ``-s`` image: the source itself, or an image of the chosen face alone."""
        if not ff_args.uses(op, params, "swap"):
            return None, []
        if not params.source_face:
            raise EngineError("the swap processor needs a source_face")
        source = Path(params.source_face)
        probe = self._request("probe", {"path": str(source)}, context)
        if probe["kind"] is None:
            raise MediaError(f"source_face {source.name} is neither an image nor a video")
        index = params.source_face_index
        if probe["kind"] == "image":
            faces = self._faces(params, source, context)["faces"]
            if len(faces) <= index:
                raise FaceNotFoundError(
                    f"source_face {source.name} has {len(faces)} face(s), index {index} was "
                    "requested (source_face_index)"
                )
            if len(faces) == 1:
                return str(source), []
        isolated = scratch / "source.png"
        try:
            answer = self._request(
                "isolate",
                {
                    "argv": ff_args.analysis_arguments(params),
                    "path": str(source),
                    "index": index,
                    "out": str(isolated),
                },
                context,
            )
        except EngineError as error:
            raise FaceNotFoundError(f"source_face {source.name}: {error}") from None
        if probe["kind"] == "video":
            note = (
                f"source_face {source.name} is a video (FaceFusion takes images): face {index} "
                f"of {answer['faces']} (left to right) in frame {answer['frame']} went to "
                "FaceFusion alone"
            )
        else:
            note = (
                f"source_face_index {index}: FaceFusion was given face {index} of "
                f"{answer['faces']} (left to right) alone"
            )
        return str(isolated), [note]

    def _image_result(
        self,
        produced: Path,
        destination: Path,
        params: Any,
        call: ff_args.Call,
        context: RunContext,
    ) -> dict[str, Any]:
        width, height = call.output_size
        answer = self._request(
            "finish_image",
            {
                "path": str(produced),
                "out": str(destination),
                "size": [width, height],
                "quality": params.output_image_quality,
            },
            context,
        )
        fmt = ff_args.output_format(destination)
        dropped = f"{fmt} cannot store transparency: the alpha channel was dropped"
        return {
            "width": width,
            "height": height,
            "format": fmt,
            "channels": answer["channels"],
            "warnings": [dropped] if answer["dropped_alpha"] else [],
        }

    def _video_result(self, output: Path, params: Any, context: RunContext) -> dict[str, Any]:
        info = self._request("video_info", {"path": str(output)}, context)
        return {
            "frames_out": info["frames"],
            "fps": info["fps"],
            "resolution": f"{info['width']}x{info['height']}",
            "encoder": params.output_video_encoder,
            "preset": params.output_video_preset,
            "quality": params.output_video_quality,
            "audio": not params.skip_audio,
            "duration": info["duration"],
        }

    def _video_only(self, request: Request, params: Any, context: RunContext) -> EngineOutput:
        (only,) = request.passes
        context.report(0.1, "facefusion")
        self._request("run", {"argv": only.call.argv, "no_processors": True}, context, frames=True)
        result = self._video_result(request.output, params, context)
        context.report(1.0, "done")
        return self._output(request, result, request.notes)

    def _extract(self, request: Request, params: Any, context: RunContext) -> EngineOutput:
        folder = request.output
        staging = folder.with_name(f".{folder.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            answer = self._request(
                "extract",
                {
                    "argv": request.extraction,
                    "out_dir": str(staging),
                    "format": params.extract_frame_format,
                    "quality": params.extract_frame_quality,
                },
                context,
                frames=True,
            )
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        result = {
            "frames": answer["frames"],
            "format": params.extract_frame_format,
            "quality": params.extract_frame_quality,
            "fps": answer["fps"],
            "resolution": f"{answer['width']}x{answer['height']}",
        }
        context.report(1.0, "done")
        return self._output(request, result, request.notes)

    def _output(self, request: Request, result: dict[str, Any], notes: list[str]) -> EngineOutput:
        """The request's output and its result document: ``emulated`` (the same lines among the
        ``warnings``), no substitutions, and FaceFusion's version and runs."""
        document = dict(result)
        document["emulated"] = list(notes)
        document["warnings"] = [
            *document.get("warnings", []),
            *(f"emulated on FaceFusion: {note}" for note in notes),
        ]
        document["substitutions"] = []
        document["facefusion"] = {"version": self.version, "runs": request.runs}
        return EngineOutput(files={"output": request.output}, result=document)

    def close(self) -> None:
        """Stop the worker and remove its ffmpeg folder."""
        self.worker.close()
        self.ffmpeg.close()
