"""The ``facefusion`` engine: catalog ops on a real FaceFusion 3.8 install, through its worker.

Every request is checked first (refused parameters, missing models), then FaceFusion analyses the
target (its faces and size), then one ``headless-run`` runs in the worker with the arguments
:mod:`.arguments` builds. Result documents have the builtin engine's shape, plus ``emulated``
(and the same lines in ``warnings``) and ``facefusion`` (version, processors, arguments).
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
from ffpipe.catalog.edit import FACE_EDITOR_MODELS
from ffpipe.catalog.enhance import FACE_ENHANCER_MODELS
from ffpipe.catalog.swap import FACE_LANDMARKER_MODELS
from ffpipe.engine.api import (
    Engine,
    EngineError,
    EngineOutput,
    FaceNotFoundError,
    MediaError,
    RunContext,
    UnsupportedError,
)
from ffpipe.engine.facefusion import arguments as ff_args
from ffpipe.engine.facefusion import models
from ffpipe.engine.facefusion.checkout import Checkout, CheckoutError, open_checkout
from ffpipe.engine.facefusion.ffmpeg import MissingPrograms, WorkerFfmpeg
from ffpipe.engine.facefusion.process import WorkerError, WorkerProcess
from ffpipe.engine.facefusion.table import REFUSED, TABLE, parameter_statuses

_FACE_OPS = ("swap", "enhance", "edit", "process")
_VIDEO_OPS = ("video", "extract_frames")


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

    name = "facefusion"
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
            self.worker.start()
            answer = self.worker.request("describe")
            self._description = {
                key: answer[key]
                for key in (
                    "version",
                    "execution_providers",
                    "encoders",
                    "models",
                    "python",
                    "onnxruntime",
                )
            }
        return self._description

    @property
    def providers(self) -> list[str]:
        return list(self._describe()["execution_providers"])

    @property
    def encoders(self) -> list[str]:
        return list(self._describe()["encoders"]["video"])

    def capabilities(self) -> dict[str, Any]:
        """Version, ops, every model's status, providers, encoders and every parameter's status."""
        description = self._describe()
        return {
            "engine": self.name,
            "version": self.version,
            # No host paths: a served capabilities document is public to its clients.
            "facefusion": {"version": description["version"], "python": description["python"]},
            "ops": list(OPS),
            "models": self._catalog_models(),
            "facefusion_models": self.models.report(description["models"]),
            "model_digests": self._model_digests(),
            "parameters": parameter_statuses(),
            "unsupported": {name: row.note for name, row in TABLE.items() if row.status == REFUSED},
            "devices": [p for p in self.providers if p in ("cpu", "cuda")],
            "execution_providers": self.providers,
            "encoders": self.encoders,
            "audio_encoders": list(description["encoders"]["audio"]),
            "strict_models": self.strict_models,
            "ffmpeg": self.ffmpeg.probe().document(),
            "limits": {"image_formats": ["jpg", "jpeg", "png", "bmp", "tiff", "webp"]},
        }

    def _catalog_models(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Catalog model names: run exactly (under FaceFusion's name), with their files' status."""
        names = {
            "face_detector_model": dict(models.DETECTORS),
            "face_landmarker_model": {name: name for name in FACE_LANDMARKER_MODELS},
            "face_swapper_model": dict(models.SWAPPERS),
            "face_enhancer_model": {name: name for name in FACE_ENHANCER_MODELS},
            "face_editor_model": {
                name: models.EDITORS.get(name, "") for name in FACE_EDITOR_MODELS
            },
        }
        report: dict[str, dict[str, dict[str, Any]]] = {}
        for parameter, choices in names.items():
            for catalog, facefusion in choices.items():
                if not facefusion:
                    report.setdefault(parameter, {})[catalog] = {
                        "status": "refused",
                        "used": "FaceFusion 3.8.1 has no such model",
                    }
                    continue
                files = self._files_of(parameter, facefusion)
                missing = self.models.unusable(files)
                report.setdefault(parameter, {})[catalog] = {
                    "status": "exact",
                    "used": f"FaceFusion {facefusion}",
                    "files": files,
                    "available": not missing,
                }
        return report

    def _model_digests(self) -> dict[str, dict[str, Any]]:
        """Per catalog model parameter and value, the .hash of each file it loads, and the
        files every face op loads (``common``): remote clients key their steps on them.

        The age modifier has no catalog model parameter; it is counted with the editor."""
        digests: dict[str, dict[str, Any]] = {
            "common": self.models.digests(
                [
                    *models.CONTENT_ANALYSER,
                    models.LANDMARK_5_TO_68,
                    models.RECOGNIZER,
                    models.CLASSIFIER,
                    *models.MASKERS,
                ]
            )
        }
        for parameter, choices in self._catalog_models().items():
            for catalog, entry in choices.items():
                files = list(entry.get("files", []))
                if parameter == "face_editor_model" and files:
                    files.append(models.AGE_MODIFIER)
                digests.setdefault(parameter, {})[catalog] = self.models.digests(files)
        return digests

    @staticmethod
    def _files_of(parameter: str, facefusion: str) -> list[str]:
        if parameter == "face_detector_model":
            return models.analysis_files(facefusion, "2dfan4")[:1]
        if parameter == "face_landmarker_model":
            return [facefusion]
        if parameter == "face_swapper_model":
            return models.processor_files("face_swapper", {"face_swapper_model": facefusion})
        if parameter == "face_enhancer_model":
            return [facefusion]
        return models.processor_files("face_editor", {})

    # cache identity and up-front checks

    def step_models(self, op: str, params: Mapping[str, Any]) -> dict[str, str]:
        """``{model file: its .hash}`` of every model a step of ``op`` uses (for its cache key)."""
        spec = OPS.get(op)
        if spec is None:
            return {}
        return self.models.digests(files_for(op, spec.params.model_construct(**dict(params))))

    def check(self, steps: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
        """Problems of a plan of (op, known parameters), found before anything runs."""
        problems = []
        for op, known in steps:
            spec = OPS.get(op)
            if spec is None:
                continue
            params = spec.params.model_construct(**dict(known))
            video_problem = self.ffmpeg.probe().video_problem if op in _VIDEO_OPS else None
            if video_problem:
                problems.append(f"{op}: {video_problem}")
            for name, value in known.items():
                row = TABLE.get(name)
                if row is not None and row.status == REFUSED and value != ff_args.default(op, name):
                    problems.append(f"{op}: {name}={value!r} is refused: {row.note}")
            if self.strict_models:
                missing = self.models.unusable(files_for(op, params))
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
            "models": self.models.digests(files_for(op, params)),
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
        self._check_models(files_for(op, params))
        context.out_dir.mkdir(parents=True, exist_ok=True)
        if op == "detect":
            return self._detect(params, target, is_video, context)
        if op in _VIDEO_OPS:
            if not is_video:
                raise MediaError(f"target_media {target.name} is not a video")
            if op == "extract_frames":
                return self._with_ffmpeg_note(self._extract(params, target, context))
            return self._with_ffmpeg_note(self._video_only(params, target, probe, context))
        output = self._face_op(op, params, target, probe, context)
        return self._with_ffmpeg_note(output) if is_video else output

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

    def _detect(
        self, params: Any, target: Path, is_video: bool, context: RunContext
    ) -> EngineOutput:
        if is_video:
            raise UnsupportedError(
                f"detect works on images and target_media {target.name} is a video; extract a "
                "frame first (extract_frames)"
            )
        name = params.output_path or "faces.json"
        if Path(name).suffix.lower() != ".json":
            raise UnsupportedError(f"detect writes JSON: output_path {name!r} must end in .json")
        context.report(0.2, "detect")
        answer = self._faces(params, target, context)
        documents = [{"index": number, **face} for number, face in enumerate(answer["faces"])]
        notes = ff_args.detector_arguments(params)[1]
        result: dict[str, Any] = {
            "faces": documents,
            "face_count": len(documents),
            "width": answer["width"],
            "height": answer["height"],
        }
        path = context.out_dir / name
        path.write_text(json.dumps(result, indent=2) + "\n")
        context.report(1.0, "done")
        return EngineOutput(files={"output": path}, result=self._finish_result(result, notes, []))

    def _face_op(
        self, op: str, params: Any, target: Path, probe: dict[str, Any], context: RunContext
    ) -> EngineOutput:
        is_video = probe["kind"] == "video"
        index = params.target_face_index
        position = params.reference_face_position if index is None else index
        context.report(0.05, "faces")
        faces = self._faces(
            params, target, context, min_faces=position + 1, start=params.trim_frame_start or 0
        )
        label = f"target_media {target.name}"
        if not faces["faces"]:
            raise FaceNotFoundError(
                f"FaceFusion finds no face in {label} at face_detector_score "
                f"{params.face_detector_score:g}"
            )
        if len(faces["faces"]) <= position:
            which = "target_face_index" if index is not None else "reference_face_position"
            raise FaceNotFoundError(
                f"{label} has {len(faces['faces'])} face(s), index {position} was requested "
                f"({which})"
            )
        facts = ff_args.Target(
            is_video=is_video,
            width=int(probe["width"]),
            height=int(probe["height"]),
            faces=faces["faces"],
            reference_frame=int(faces["frame"] or 0),
        )
        with tempfile.TemporaryDirectory(prefix="ffpipe-ff-") as scratch:
            source, source_notes = self._source(op, params, Path(scratch), context)
            name = params.output_path or target.name
            destination = context.out_dir / name
            if destination.resolve() == target.resolve():
                raise EngineError(f"the output {name} would overwrite the target; set output_path")
            if is_video and Path(name).suffix.lower() != target.suffix.lower():
                raise UnsupportedError(
                    f"output_path {name!r}: FaceFusion writes a video in its target's container "
                    f"({target.suffix})"
                )
            plan = ff_args.passes(op, params, facts)
            current, calls, notes = str(target), [], list(source_notes)
            for number, processors in enumerate(plan):
                final = number == len(plan) - 1
                produced = (
                    destination if is_video else Path(scratch) / f"pass{number}{target.suffix}"
                )
                try:
                    call = ff_args.build_call(
                        op,
                        params,
                        facts,
                        source=source,
                        output=str(produced),
                        processors=processors,
                        target_path=current,
                        final=final,
                    )
                except ValueError as error:
                    raise UnsupportedError(str(error)) from None
                self._check_models(call.files)
                context.report(0.15 + 0.8 * number / len(plan), "facefusion")
                self._request("run", {"argv": call.argv}, context, frames=is_video)
                notes += call.emulated
                calls.append(call)
                edited = "face_editor" in processors or "age_modifier" in processors
                if edited and not is_video and params.face_editor_blend != 1.0:
                    produced = self._blend(current, produced, params, Path(scratch), context)
                    notes.append(
                        f"face_editor_blend {params.face_editor_blend:g}: the edit ran as its "
                        "own FaceFusion pass, blended with the image before it"
                    )
                current = str(produced)
            call = calls[-1]
            if is_video:
                result = self._video_result(destination, params, context)
            else:
                result = self._image_result(produced, destination, params, call, context)
                if output_format(destination) != output_format(target):
                    notes.append(
                        f"output_path {name}: FaceFusion wrote {target.suffix}; converted to "
                        f"{destination.suffix}"
                    )
            selected = len(processed_faces(params, faces["faces"]))
            if is_video:
                # FaceFusion does not count per frame: what is known is the reference frame.
                result["reference_frame"] = facts.reference_frame
                result["reference_frame_faces"] = len(faces["faces"])
                result["reference_frame_faces_selected"] = selected
            else:
                result["faces_detected"] = len(faces["faces"])
                result["faces_processed"] = selected
            result["facefusion_processors"] = [name for made in calls for name in made.processors]
            context.report(1.0, "done")
            return EngineOutput(
                files={"output": destination},
                result=self._finish_result(result, notes, [made.argv for made in calls]),
            )

    def _source(
        self, op: str, params: Any, scratch: Path, context: RunContext
    ) -> tuple[str | None, list[str]]:
        """The ``-s`` image: the source itself, or an image of the chosen face alone."""
        if not ff_args._uses(op, params, "swap"):
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

    def _blend(
        self, before: str, edited: Path, params: Any, scratch: Path, context: RunContext
    ) -> Path:
        blended = scratch / f"blended{edited.suffix}"
        self._request(
            "blend",
            {
                "base": before,
                "edited": str(edited),
                "out": str(blended),
                "factor": params.face_editor_blend,
            },
            context,
        )
        return blended

    def _image_result(
        self, produced: Path, destination: Path, params: Any, call: Any, context: RunContext
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
        return {
            "width": width,
            "height": height,
            "format": output_format(destination),
            "channels": answer["channels"],
            "warnings": [
                f"{output_format(destination)} cannot store transparency: the alpha channel was "
                "dropped"
            ]
            if answer["dropped_alpha"]
            else [],
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

    def _video_only(
        self, params: Any, target: Path, probe: dict[str, Any], context: RunContext
    ) -> EngineOutput:
        name = params.output_path or target.name
        if Path(name).suffix.lower() != target.suffix.lower():
            raise UnsupportedError(
                f"output_path {name!r}: FaceFusion writes a video in its target's container "
                f"({target.suffix})"
            )
        destination = context.out_dir / name
        facts = ff_args.Target(
            is_video=True, width=int(probe["width"]), height=int(probe["height"])
        )
        try:
            call = ff_args.build_call("video", params, facts, source=None, output=str(destination))
        except ValueError as error:
            raise UnsupportedError(str(error)) from None
        context.report(0.1, "facefusion")
        self._request("run", {"argv": call.argv, "no_processors": True}, context, frames=True)
        result = self._video_result(destination, params, context)
        context.report(1.0, "done")
        return EngineOutput(
            files={"output": destination},
            result=self._finish_result(result, call.emulated, [call.argv]),
        )

    def _extract(self, params: Any, target: Path, context: RunContext) -> EngineOutput:
        folder = context.out_dir / (params.output_path or f"{target.stem}_frames")
        argv = ["headless-run", "-t", str(target)]
        if params.trim_frame_start is not None:
            argv += ["--trim-frame-start", str(params.trim_frame_start)]
        if params.trim_frame_end is not None:
            argv += ["--trim-frame-end", str(params.trim_frame_end)]
        if params.output_video_fps is not None:
            argv += ["--output-video-fps", f"{params.output_video_fps:g}"]
        argv += ["--temp-frame-format", "png"]
        execution, notes = ff_args.execution_arguments(params)
        argv += execution
        notes.append(
            f"extract_frames: FaceFusion's own frame extraction, written as "
            f"{params.extract_frame_format} frames"
            + (
                f" at quality {params.extract_frame_quality}"
                if params.extract_frame_format == "jpg"
                else ""
            )
        )
        staging = folder.with_name(f".{folder.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            answer = self._request(
                "extract",
                {
                    "argv": argv,
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
        return EngineOutput(
            files={"output": folder}, result=self._finish_result(result, notes, [argv])
        )

    def _finish_result(
        self, result: dict[str, Any], notes: list[str], runs: list[list[str]]
    ) -> dict[str, Any]:
        document = dict(result)
        document["emulated"] = list(notes)
        document["warnings"] = [
            *document.get("warnings", []),
            *(f"emulated on FaceFusion: {note}" for note in notes),
        ]
        document["substitutions"] = []
        document["facefusion"] = {"version": self.version, "runs": [list(argv) for argv in runs]}
        return document

    def close(self) -> None:
        """Stop the worker and remove its ffmpeg folder."""
        self.worker.close()
        self.ffmpeg.close()


def files_for(op: str, params: Any) -> list[str]:
    """The FaceFusion model files a step of ``op`` with ``params`` uses."""
    if op in _VIDEO_OPS:
        return [] if op == "extract_frames" else list(models.CONTENT_ANALYSER)
    detector = models.DETECTORS.get(params.face_detector_model, params.face_detector_model)
    if op == "detect":
        return models.analysis_files(detector, params.face_landmarker_model)
    processors = ff_args.facefusion_processors(op, params)
    options = {}
    if "face_swapper" in processors:
        options["face_swapper_model"] = models.SWAPPERS[params.face_swapper_model]
    if "face_enhancer" in processors:
        options["face_enhancer_model"] = params.face_enhancer_model
    return models.run_files(detector, params.face_landmarker_model, processors, options)


def processed_faces(params: Any, faces: list[dict[str, Any]]) -> list[int]:
    """Indices of the faces FaceFusion's reference mode selects (its own distance rule)."""
    index = params.target_face_index
    reference = faces[params.reference_face_position if index is None else index]["embedding"]
    limit = ff_args.TARGET_FACE_DISTANCE if index is not None else params.reference_face_distance
    selected = []
    for number, face in enumerate(faces):
        similarity = sum(a * b for a, b in zip(face["embedding"], reference, strict=False))
        if (1.0 - similarity) / 2.0 < limit:
            selected.append(number)
    return selected


def output_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    return {"jpeg": "jpg", "tif": "tiff"}.get(suffix, suffix)
