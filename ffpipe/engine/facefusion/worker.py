"""The persistent FaceFusion worker: run by FaceFusion's own Python, inside its checkout.

This file is executed as a script by the interpreter of the FaceFusion install (never imported by
ffpipe's), so it uses only the standard library and FaceFusion's own modules and dependencies.

Protocol: one JSON object per line. Requests arrive on stdin as ``{"id", "kind", ...}``; every
answer goes to the original stdout as ``{"id", "event": "result", "ok", ...}``, preceded by any
number of ``{"id", "event": "progress", "done", "total"}`` lines while frames are processed. The
first line written is ``{"event": "ready", ...}`` describing the install. Anything FaceFusion
itself prints is sent to stderr, so it can never corrupt the protocol.

FaceFusion runs in this process the way ``facefusion.py headless-run`` runs it (its parser,
``apply_args``, ``process_headless``), with three differences that never change a result:
programs are built once per argument shape (building costs about 0.7 s), model sessions stay
loaded between requests (``--video-memory-strategy tolerant``), and FaceFusion's caches are
cleared when a request says it starts a new catalog request (``fresh``), because a path may hold
other bytes next time.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import traceback
from typing import Any

SUPPORTED_SERIES = "3.8."

_SHAPE_OPTIONS = ("--face-detector-model", "--face-swapper-model")
"""Options that FaceFusion reads while building its parser (they decide other options' choices)."""


class RequestFailed(Exception):
    """A request FaceFusion refused or failed; the message is for the user."""


class Channel:
    """Writes protocol lines to the stdout this process was started with."""

    def __init__(self) -> None:
        self._stream = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._stream.write(json.dumps(message) + "\n")
            self._stream.flush()


class LogCapture(logging.Handler):
    """Keeps FaceFusion's log lines of the current request (they explain its failures)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, record.getMessage()))

    def errors(self) -> list[str]:
        return [text for level, text in self.lines if level >= logging.ERROR]

    def warnings(self) -> list[str]:
        return [text for level, text in self.lines if level == logging.WARNING]


class Worker:
    """Holds FaceFusion's modules and built programs; answers one request at a time."""

    def __init__(self, channel: Channel, folder: str, allow_downloads: bool) -> None:
        self.channel = channel
        self.request_id: Any = None
        self.folder = folder
        """Owned by the engine, which removes it whatever becomes of this process."""
        # An empty config: FaceFusion's built-in defaults, never a facefusion.ini's.
        self.config_path = os.path.join(folder, "empty.ini")
        with open(self.config_path, "w", encoding="utf-8"):
            pass
        self.programs: dict[tuple[str, ...], Any] = {}
        self.capture = LogCapture()
        self._import_facefusion(allow_downloads)

    def _import_facefusion(self, allow_downloads: bool) -> None:
        from facefusion import download, logger, metadata

        version = metadata.get("version") or ""
        if not version.startswith(SUPPORTED_SERIES):
            raise RequestFailed(
                f"FaceFusion {version} is not supported; this worker drives {SUPPORTED_SERIES}x"
            )
        self.version = version
        # A model file whose hash does not match is deleted by FaceFusion when it cannot be
        # downloaded again; a user's file is never ours to delete.
        download.remove_file = lambda _path: False
        if not allow_downloads:
            # Offline: every provider URL counts as unreachable, so nothing is fetched and no
            # traffic leaves the machine (FaceFusion pings them even when files are present).
            download.ping_static_url = lambda _url: False
        logger.get_package_logger().addHandler(self.capture)
        self._install_progress()
        self.parse(["headless-run"])

    def _install_progress(self) -> None:
        """Report FaceFusion's progress bars over the protocol: frames of a video as they are
        processed, and the content analyser's pass over a video (which otherwise says nothing
        for a long time, and would look like a hang)."""
        from facefusion import content_analyser
        from facefusion.workflows import to_video

        to_video.tqdm = self._reporting_bar(to_video.tqdm, "frames")
        content_analyser.tqdm = self._reporting_bar(content_analyser.tqdm, "analysing")

    def _reporting_bar(self, base: Any, stage: str) -> Any:
        worker = self

        class ReportingBar(base):  # type: ignore[misc, valid-type]
            """A FaceFusion progress bar, also reported over the protocol."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.reported_done = 0
                self.reported_total = kwargs.get("total") or 0

            def update(self, n: float | None = 1) -> bool | None:
                self.reported_done += int(n or 0)
                worker.send_progress(self.reported_done, self.reported_total, stage)
                return super().update(n)

        return ReportingBar

    def send_progress(self, done: int, total: int, stage: str = "frames") -> None:
        self.channel.send(
            {
                "id": self.request_id,
                "event": "progress",
                "done": done,
                "total": total,
                "stage": stage,
            }
        )

    # FaceFusion's parser, state and caches

    def program(self, argv: list[str]) -> Any:
        from facefusion import program as program_module
        from facefusion.program_helper import validate_args

        shape = tuple(
            argv[argv.index(option) + 1] if option in argv else "" for option in _SHAPE_OPTIONS
        )
        if shape not in self.programs:
            # The parser reads sys.argv while it is built: model-dependent choices follow it.
            sys.argv = ["facefusion.py", *argv]
            built = program_module.create_program()
            if not validate_args(built):
                raise RequestFailed("FaceFusion's own defaults do not validate (validate_args)")
            self.programs[shape] = built
        return self.programs[shape]

    def parse(self, argv: list[str]) -> dict[str, Any]:
        """Parse ``argv`` with FaceFusion's program and apply it to FaceFusion's state."""
        from facefusion import logger, state_manager
        from facefusion.args import apply_args

        full = [*argv, "--config-path", self.config_path]
        program = self.program(full)
        sys.argv = ["facefusion.py", *full]
        try:
            args = vars(program.parse_args(full))
        except SystemExit as exit_:
            raise RequestFailed(f"FaceFusion's parser refused the arguments {full}") from exit_
        apply_args(args, state_manager.init_item)
        logger.init(state_manager.get_item("log_level"))
        return args

    def clear_caches(self) -> None:
        from facefusion import (
            content_analyser,
            face_store,
            ffprobe,
            process_manager,
            video_manager,
            vision,
        )

        face_store.clear_faces()
        for function in (
            content_analyser.analyse_image,
            content_analyser.analyse_video,
            vision.read_static_image,
            vision.read_static_video_frame,
            getattr(ffprobe, "extract_static_video_metadata", None),
        ):
            if hasattr(function, "cache_clear"):
                function.cache_clear()
        video_manager.clear_video_pool()
        process_manager.end()

    # requests

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        kind = request.get("kind")
        handler = getattr(self, f"do_{kind}", None)
        if handler is None:
            raise RequestFailed(f"unknown request kind {kind!r}")
        return handler(request)

    def do_ping(self, _request: dict[str, Any]) -> dict[str, Any]:
        return {}

    def do_describe(self, _request: dict[str, Any]) -> dict[str, Any]:
        """Version, execution providers, encoders and every model file FaceFusion knows."""
        import onnxruntime
        from facefusion.execution import get_available_execution_providers
        from facefusion.ffmpeg import get_available_encoder_set

        return {
            "version": self.version,
            "onnxruntime": {
                "version": onnxruntime.__version__,
                "providers": list(onnxruntime.get_available_providers()),
            },
            "execution_providers": list(get_available_execution_providers()),
            "encoders": get_available_encoder_set(),
            "models": self.model_inventory(),
            "python": sys.version.split()[0],
        }

    def model_inventory(self) -> dict[str, dict[str, list[str]]]:
        """module -> model name -> the model file paths FaceFusion checks for it."""
        import importlib

        from facefusion.filesystem import get_file_name, resolve_file_paths

        modules = [
            "facefusion.content_analyser",
            "facefusion.face_classifier",
            "facefusion.face_detector",
            "facefusion.face_landmarker",
            "facefusion.face_masker",
            "facefusion.face_recognizer",
        ]
        for path in resolve_file_paths("facefusion/processors/modules"):
            modules.append(f"facefusion.processors.modules.{get_file_name(path)}.core")
        inventory: dict[str, dict[str, list[str]]] = {}
        for name in modules:
            module = importlib.import_module(name)
            if not hasattr(module, "create_static_model_set"):
                continue
            model_set = module.create_static_model_set("full")
            inventory[name.rsplit(".", 2)[-2] if name.endswith(".core") else name[11:]] = {
                model: [source["path"] for source in options.get("sources", {}).values()]
                for model, options in model_set.items()
            }
        return inventory

    def do_parse(self, request: dict[str, Any]) -> dict[str, Any]:
        """FaceFusion's parsed arguments of ``argv`` (a test that our arguments are its)."""
        args = self.parse(request["argv"])
        return {"args": {key: value for key, value in args.items() if _plain(value)}}

    def do_reset(self, _request: dict[str, Any]) -> dict[str, Any]:
        """Forget loaded model sessions: model files were replaced."""
        from facefusion import inference_manager
        from facefusion.model_helper import get_static_model_initializer

        for sessions in inference_manager.INFERENCE_POOL_SET.values():
            sessions.clear()
        get_static_model_initializer.cache_clear()
        return {}

    def do_run(self, request: dict[str, Any]) -> dict[str, Any]:
        """One ``headless-run`` in this process; ``no_processors`` leaves every frame as it is."""
        from facefusion import core, state_manager
        from facefusion.args import reduce_step_args
        from facefusion.jobs import job_manager

        scratch = request["scratch"]
        argv = [*request["argv"], "--jobs-path", os.path.join(scratch, "jobs")]
        argv += ["--temp-path", scratch]
        args = self.parse(argv)
        if request.get("no_processors"):
            args["processors"] = []
            state_manager.init_item("processors", [])
        if not job_manager.init_jobs(state_manager.get_item("jobs_path")):
            raise RequestFailed("FaceFusion could not create its jobs folder")
        try:
            if request.get("no_processors"):
                code = _run_without_processors(core, reduce_step_args(args))
            else:
                code = core.process_headless(args)
        except SystemExit as exit_:
            raise RequestFailed(f"FaceFusion exited with code {exit_.code}") from exit_
        if code != 0:
            raise RequestFailed(f"FaceFusion's headless run failed (code {code})")
        output = state_manager.get_item("output_path")
        if not os.path.isfile(output):
            raise RequestFailed("FaceFusion reported success but wrote no output")
        return {"output": output}

    def do_write_job(self, request: dict[str, Any]) -> dict[str, Any]:
        """A FaceFusion job made by FaceFusion's own job manager, as ``job-create``,
        ``job-add-step`` (``job-remix-step`` where a step reads an earlier one's output) and
        ``job-submit`` would make it, in ``jobs_path``."""
        from facefusion.args import reduce_step_args
        from facefusion.jobs import job_helper, job_manager

        if not job_manager.init_jobs(request["jobs_path"]):
            raise RequestFailed(f"FaceFusion cannot create its jobs folder {request['jobs_path']}")
        job_id = request["job_id"]
        if job_manager.find_job_path(job_id):
            raise RequestFailed(f"a FaceFusion job named {job_id} exists in {request['jobs_path']}")
        if not job_manager.create_job(job_id):
            raise RequestFailed(f"FaceFusion could not create job {job_id}")
        outputs: list[str] = []
        for number, step in enumerate(request["steps"]):
            step_args = reduce_step_args(self.parse(step["argv"]))
            for key, earlier in (("target_path", step.get("target_step")),):
                if earlier is not None:
                    step_args[key] = job_helper.get_step_output_path(
                        job_id, earlier, outputs[earlier]
                    )
            if step.get("source_step") is not None:
                earlier = step["source_step"]
                step_args["source_paths"] = [
                    job_helper.get_step_output_path(job_id, earlier, outputs[earlier])
                ]
            outputs.append(step_args["output_path"])
            if not job_manager.add_step(job_id, step_args):
                raise RequestFailed(f"FaceFusion could not add step {number} to job {job_id}")
        if request.get("submit") and not job_manager.submit_job(job_id):
            raise RequestFailed(f"FaceFusion could not submit job {job_id}")
        return {"path": job_manager.find_job_path(job_id), "outputs": outputs}

    def do_probe(self, request: dict[str, Any]) -> dict[str, Any]:
        """Whether FaceFusion takes ``path`` as an image or a video, and its size."""
        from facefusion.filesystem import is_image, is_video
        from facefusion.vision import detect_image_resolution

        path = request["path"]
        if is_video(path):
            return {"kind": "video", **self.do_video_info(request)}
        if is_image(path):
            resolution = detect_image_resolution(path)
            if resolution:
                return {"kind": "image", "width": resolution[0], "height": resolution[1]}
        return {"kind": None}

    def do_faces(self, request: dict[str, Any]) -> dict[str, Any]:
        """FaceFusion's analysis of one image (or one frame of a video), faces left to right."""
        self.parse(request["argv"])
        start = int(request.get("start", 0))
        frame, number = self.load_frame(request["path"], request.get("min_faces", 1), start)
        if frame is None:
            return {"faces": [], "frame": None, "width": 0, "height": 0}
        faces = self.faces_of(frame)
        height, width = frame.shape[:2]
        return {
            "faces": [_face_document(face) for face in faces],
            "frame": number,
            "width": int(width),
            "height": int(height),
        }

    def do_isolate(self, request: dict[str, Any]) -> dict[str, Any]:
        """Write an image showing only face ``index`` of ``path`` (left to right), for ``-s``."""
        import cv2
        from facefusion.vision import write_image

        self.parse(request["argv"])
        index = int(request["index"])
        frame, number = self.load_frame(request["path"], index + 1)
        if frame is None:
            raise RequestFailed(f"no face {index} in the source ({_count(0)} found)")
        faces = self.faces_of(frame)
        if len(faces) <= index:
            raise RequestFailed(f"the source shows {_count(len(faces))}; face {index} was asked")
        chosen = faces[index].bounding_box
        height, width = frame.shape[:2]
        side = max(chosen[2] - chosen[0], chosen[3] - chosen[1])
        left, top = int(max(0, chosen[0] - side)), int(max(0, chosen[1] - side))
        right, bottom = int(min(width, chosen[2] + side)), int(min(height, chosen[3] + side))
        isolated = frame.copy()
        for number_other, face in enumerate(faces):
            if number_other != index:
                box = face.bounding_box.astype(int)
                cv2.rectangle(isolated, (box[0], box[1]), (box[2], box[3]), (0, 0, 0), -1)
        if not write_image(request["out"], isolated[top:bottom, left:right]):
            raise RequestFailed("could not write the isolated source face")
        return {"faces": len(faces), "frame": number}

    def do_extract(self, request: dict[str, Any]) -> dict[str, Any]:
        """Frames of a video by FaceFusion's own extraction, renamed and encoded as asked."""
        import cv2
        from facefusion import ffmpeg, process_manager, state_manager
        from facefusion.temp_helper import create_temp_directory, resolve_temp_frame_set
        from facefusion.vision import (
            detect_video_resolution,
            read_image,
            restrict_trim_frame,
            restrict_video_fps,
        )

        argv = [*request["argv"], "--temp-path", request["scratch"]]
        self.parse(argv)
        target = state_manager.get_item("target_path")
        start, end = restrict_trim_frame(
            target,
            state_manager.get_item("trim_frame_start"),
            state_manager.get_item("trim_frame_end"),
        )
        fps = restrict_video_fps(target, state_manager.get_item("output_video_fps"))
        resolution = detect_video_resolution(target)
        create_temp_directory(target)
        # FaceFusion's ffmpeg helpers follow ffmpeg only while its process manager runs.
        process_manager.start()
        try:
            extracted = ffmpeg.extract_frames(target, resolution, fps, start, end)
        finally:
            process_manager.end()
        if not extracted:
            raise RequestFailed("FaceFusion's frame extraction (ffmpeg) failed")
        frames = [path for _, path in sorted(resolve_temp_frame_set(target).items())]
        if not frames:
            raise RequestFailed("no frames left to extract after trimming")
        os.makedirs(request["out_dir"], exist_ok=True)
        extension, quality = request["format"], int(request["quality"])
        flags = [cv2.IMWRITE_JPEG_QUALITY, quality] if extension == "jpg" else []
        for index, path in enumerate(frames):
            name = os.path.join(request["out_dir"], f"frame_{index:06d}.{extension}")
            if not cv2.imwrite(name, read_image(path)[:, :, :3], flags):
                raise RequestFailed(f"could not write {name}")
            self.send_progress(index + 1, len(frames))
        return {"frames": len(frames), "fps": fps, "width": resolution[0], "height": resolution[1]}

    def do_finish_image(self, request: dict[str, Any]) -> dict[str, Any]:
        """Resize FaceFusion's image output and write it in the format of ``out``."""
        import cv2
        from facefusion.vision import read_image

        frame = read_image(request["path"], "rgba")
        if frame is None:
            raise RequestFailed("FaceFusion's output image cannot be read")
        width, height = request["size"]
        if (frame.shape[1], frame.shape[0]) != (width, height):
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        out = request["out"]
        extension = os.path.splitext(out)[1].lower()
        dropped_alpha = False
        if extension in (".jpg", ".jpeg", ".bmp") and frame.shape[2] == 4:
            dropped_alpha = bool((frame[:, :, 3] < 255).any())
            frame = frame[:, :, :3]
        flags = [cv2.IMWRITE_JPEG_QUALITY, int(request["quality"])]
        if not cv2.imwrite(out, frame, flags if extension in (".jpg", ".jpeg") else []):
            raise RequestFailed(f"could not write {os.path.basename(out)}")
        return {
            "width": width,
            "height": height,
            "channels": int(frame.shape[2]),
            "dropped_alpha": dropped_alpha,
        }

    def do_blend(self, request: dict[str, Any]) -> dict[str, Any]:
        """``factor`` of ``edited`` over ``base`` (same size): the editor's missing blend."""
        import cv2
        from facefusion.vision import read_image, write_image

        base, edited = read_image(request["base"]), read_image(request["edited"])
        if base is None or edited is None or base.shape != edited.shape:
            raise RequestFailed("the images to blend cannot be read or differ in size")
        factor = float(request["factor"])
        blended = cv2.addWeighted(edited, factor, base, 1.0 - factor, 0.0)
        if not write_image(request["out"], blended):
            raise RequestFailed("could not write the blended image")
        return {}

    def do_video_info(self, request: dict[str, Any]) -> dict[str, Any]:
        from facefusion import ffprobe

        metadata = ffprobe.extract_static_video_metadata(request["path"])
        width, height = metadata.get("resolution") or (0, 0)
        return {
            "frames": metadata.get("frame_total"),
            "fps": metadata.get("fps"),
            "width": width,
            "height": height,
            "duration": metadata.get("duration"),
        }

    # helpers over FaceFusion's analysis

    def load_frame(self, path: str, min_faces: int, start: int = 0) -> tuple[Any, int | None]:
        """An image, or the first frame of a video showing at least ``min_faces`` faces."""
        from facefusion.filesystem import is_image, is_video
        from facefusion.vision import count_video_frame_total, read_image, read_video_frame

        if is_image(path):
            return read_image(path), 0
        if not is_video(path):
            raise RequestFailed(f"{os.path.basename(path)} is neither an image nor a video")
        for number in range(start, count_video_frame_total(path)):
            frame = read_video_frame(path, number)
            if frame is not None and len(self.faces_of(frame)) >= min_faces:
                return frame, number
        return None, None

    def faces_of(self, frame: Any) -> list[Any]:
        from facefusion.face_creator import get_static_faces
        from facefusion.face_selector import sort_faces_by_order

        return sort_faces_by_order(get_static_faces([frame]), "left-right")


def _run_without_processors(core: Any, step_args: dict[str, Any]) -> int:
    """FaceFusion's video workflow with an empty processor chain: trim, fps, scale, encode, audio.

    ``--processors`` needs at least one name on the command line, so the chain is emptied after
    parsing; the workflow then passes every frame through unchanged.
    """
    from facefusion import state_manager

    if not core.common_pre_check():
        return 2
    state_manager.init_item("workflow_mode", "auto")
    return core.conditional_process()


def _count(number: int) -> str:
    return f"{number} face" + ("" if number == 1 else "s")


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list))


def _face_document(face: Any) -> dict[str, Any]:
    box = [round(float(value), 2) for value in face.bounding_box]
    return {
        "box": box,
        "score": round(float(face.score_set.get("detector")), 4),
        "landmark_score": round(float(face.score_set.get("landmarker")), 4),
        "landmarks_5": [
            [round(float(x), 2), round(float(y), 2)] for x, y in face.landmark_set["5/68"]
        ],
        "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in face.landmark_set["68"]],
        "age": [int(face.age.start), int(face.age.stop)],
        "gender": face.gender,
        "race": face.race,
        "embedding": [round(float(value), 6) for value in face.embedding_norm],
    }


def serve(worker: Worker, channel: Channel) -> None:
    """Answer requests until stdin closes."""
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        worker.request_id = request.get("id")
        worker.capture.lines.clear()
        scratch = None
        try:
            if request.get("fresh"):
                # A new catalog request: whatever FaceFusion cached by path may be stale now.
                # Within one, its face store (keyed by frame content) carries the analysis of
                # the target and source over to the run.
                worker.clear_caches()
            if request.get("kind") in ("run", "extract"):
                scratch = request["scratch"] = tempfile.mkdtemp(dir=worker.folder)
            answer = {"ok": True, **worker.handle(request)}
        except RequestFailed as error:
            answer = {"ok": False, "error": str(error)}
        except SystemExit as exit_:
            # FaceFusion's hard_exit (a processor that cannot load, say): fail the request only.
            answer = {"ok": False, "error": f"FaceFusion exited with code {exit_.code}"}
        except Exception as error:
            traceback.print_exc()
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        answer["log_errors"] = worker.capture.errors()
        answer["log_warnings"] = worker.capture.warnings()
        channel.send({"id": request.get("id"), "event": "result", **answer})


def main() -> int:
    parser = argparse.ArgumentParser(description="ffpipe's FaceFusion worker")
    parser.add_argument("--folder", required=True, help="scratch folder owned by the engine")
    parser.add_argument("--allow-downloads", action="store_true")
    options = parser.parse_args()
    channel = Channel()
    sys.path.insert(0, os.getcwd())
    try:
        worker = Worker(channel, options.folder, options.allow_downloads)
    except Exception as error:
        traceback.print_exc()
        channel.send({"event": "failed", "error": f"{type(error).__name__}: {error}"})
        return 1
    channel.send({"event": "ready", "version": worker.version})
    serve(worker, channel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
