"""The FaceFusion test bed itself: FaceFusion 3.8.1's own `headless-run`, unmodified and offline,
on the stand-in models of bench/facefusion_models.py (the only mocked part: no weights exist here).

These prove the environment (make facefusion-env), the PATH shims and the fake models before the
facefusion engine's tests rely on them.
"""

from __future__ import annotations

import subprocess
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from _engine_support import ASTRONAUT, GRACE, collage, photo, read_rgb, write_rgb
from _facefusion_support import (
    FaceFusionInstall,
    RelativeBox,
    face_box_fractions,
    prepare_facefusion,
    session_facefusion,
)

pytestmark = pytest.mark.slow  # every test here runs FaceFusion in its own process

CORNER = 24


def _pixels(box: RelativeBox, shape: tuple[int, ...]) -> tuple[slice, slice]:
    height, width = shape[:2]
    left, top, right, bottom = box
    return slice(round(top * height), round(bottom * height)), slice(
        round(left * width), round(right * width)
    )


def _face_change(before: np.ndarray, after: np.ndarray, box: RelativeBox) -> float:
    """Mean absolute difference (grey levels) inside the face box."""
    rows, columns = _pixels(box, before.shape)
    return float(
        np.abs(before[rows, columns].astype(int) - after[rows, columns].astype(int)).mean()
    )


def _corner_change(before: np.ndarray, after: np.ndarray) -> float:
    """Largest mean absolute difference over the four corner patches."""
    differences = []
    for rows in (slice(0, CORNER), slice(-CORNER, None)):
        for columns in (slice(0, CORNER), slice(-CORNER, None)):
            patch = before[rows, columns].astype(int) - after[rows, columns].astype(int)
            differences.append(float(np.abs(patch).mean()))
    return max(differences)


def _run(
    install: FaceFusionInstall, arguments: list[str], work: Path
) -> subprocess.CompletedProcess[str]:
    result = install.headless_run(arguments, work)
    assert result.returncode == 0, f"headless-run exited {result.returncode}:\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def facefusion_install(tmp_path_factory: pytest.TempPathFactory) -> FaceFusionInstall:
    return session_facefusion(tmp_path_factory)


@pytest.fixture()
def astronaut_png(tmp_path: Path) -> Path:
    return write_rgb(tmp_path / "astronaut.png", photo(ASTRONAUT))


def test_environment_puts_ffmpeg_ffprobe_and_an_offline_curl_first_on_path(
    facefusion_install: FaceFusionInstall,
) -> None:
    environment = facefusion_install.environment()
    for program in ("ffmpeg", "ffprobe"):
        version = subprocess.run(
            [program, "-version"], env=environment, capture_output=True, text=True, check=False
        )
        assert version.returncode == 0 and version.stdout.startswith(f"{program} version")
    curl = subprocess.run(
        ["curl", "-I", "https://example.invalid/model.onnx"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert curl.returncode != 0 and "offline stand-in" in curl.stderr


def test_every_model_has_the_hash_facefusion_checks(facefusion_install: FaceFusionInstall) -> None:
    models = sorted(facefusion_install.models.glob("*.onnx"))
    assert len(models) >= 40
    for model in models:
        expected = format(zlib.crc32(model.read_bytes()), "08x")
        assert model.with_suffix(".hash").read_text() == expected, model.name
    assert sum(model.stat().st_size for model in models) < 2_000_000


def test_swap_and_enhance_change_the_face_and_leave_the_corners(
    facefusion_install: FaceFusionInstall, astronaut_png: Path, tmp_path: Path
) -> None:
    output = tmp_path / "swapped.png"
    arguments = ["--processors", "face_swapper", "face_enhancer"]
    arguments += ["-s", str(GRACE), "-t", str(astronaut_png), "-o", str(output)]
    result = _run(facefusion_install, arguments, tmp_path)

    assert "offline stand-in" in result.stderr  # FaceFusion pinged its model hosts, and failed fast
    before, after = read_rgb(astronaut_png), read_rgb(output)
    assert after.shape == before.shape
    assert _face_change(before, after, facefusion_install.faces[0]) > 60.0
    assert _corner_change(before, after) == 0.0


@pytest.mark.parametrize("detector", ["scrfd", "retinaface", "yunet"])
def test_other_detectors_find_the_face_for_a_swap(
    facefusion_install: FaceFusionInstall, astronaut_png: Path, tmp_path: Path, detector: str
) -> None:
    output = tmp_path / "swapped.png"
    arguments = ["--face-detector-model", detector, "--face-swapper-model", "inswapper_128"]
    arguments += ["-s", str(GRACE), "-t", str(astronaut_png), "-o", str(output)]
    _run(facefusion_install, arguments, tmp_path)

    before, after = read_rgb(astronaut_png), read_rgb(output)
    assert _face_change(before, after, facefusion_install.faces[0]) > 60.0
    assert _corner_change(before, after) == 0.0


def _write_still_video(path: Path, image: np.ndarray, frames: int, size: int) -> Path:
    """A short H.264 clip of ``image`` (resized to size x size) repeated ``frames`` times."""
    from PIL import Image

    still = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(10))
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}
        for _ in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(still, format="rgb24")))
        container.mux(stream.encode())
    return path


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_video_swap_processes_every_frame(
    facefusion_install: FaceFusionInstall, tmp_path: Path
) -> None:
    clip = _write_still_video(tmp_path / "clip.mp4", photo(ASTRONAUT), frames=8, size=320)
    output = tmp_path / "swapped.mp4"
    arguments = ["--processors", "face_swapper", "--output-video-preset", "ultrafast"]
    arguments += ["-s", str(GRACE), "-t", str(clip), "-o", str(output)]
    _run(facefusion_install, arguments, tmp_path)

    before, after = _frames(clip), _frames(output)
    assert len(after) == len(before) == 8
    for index, (original, swapped) in enumerate(zip(before, after, strict=True)):
        assert _face_change(original, swapped, facefusion_install.faces[0]) > 60.0, index
        assert _corner_change(original, swapped) < 8.0, index


@pytest.mark.parametrize(
    "arguments",
    [
        ["--processors", "face_editor", "--face-editor-mouth-smile", "1.0"],
        ["--processors", "face_editor", "--face-editor-head-yaw", "0.5"],
        ["--processors", "age_modifier", "--age-modifier-model", "fran"],
        ["--processors", "age_modifier", "--age-modifier-model", "styleganex_age"],
    ],
    ids=["editor-smile", "editor-yaw", "age-fran", "age-styleganex"],
)
def test_face_editor_and_age_modifier_edit_the_face(
    facefusion_install: FaceFusionInstall,
    astronaut_png: Path,
    tmp_path: Path,
    arguments: list[str],
) -> None:
    output = tmp_path / "edited.png"
    if "age_modifier" in arguments:
        arguments = [*arguments, "--age-modifier-direction", "60"]
    _run(facefusion_install, [*arguments, "-t", str(astronaut_png), "-o", str(output)], tmp_path)

    before, after = read_rgb(astronaut_png), read_rgb(output)
    assert _face_change(before, after, facefusion_install.faces[0]) > 10.0
    assert _corner_change(before, after) == 0.0


def test_a_copy_for_several_faces_swaps_each_of_them(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    target = write_rgb(tmp_path / "collage.png", collage())
    faces = face_box_fractions(target)
    assert len(faces) == 3
    install = prepare_facefusion(tmp_path_factory.mktemp("facefusion") / "facefusion", faces)
    output = tmp_path / "swapped.png"
    arguments = ["--face-selector-mode", "many", "-s", str(GRACE)]
    _run(install, [*arguments, "-t", str(target), "-o", str(output)], tmp_path)

    before, after = read_rgb(target), read_rgb(output)
    for face in faces:
        assert _face_change(before, after, face) > 60.0, face
    assert _corner_change(before, after) == 0.0


def test_an_empty_frame_has_no_face_to_swap(
    facefusion_install: FaceFusionInstall, tmp_path: Path
) -> None:
    blank = write_rgb(tmp_path / "blank.png", np.zeros((240, 320, 3), np.uint8))
    output = tmp_path / "swapped.png"
    arguments = ["-s", str(GRACE), "-t", str(blank), "-o", str(output)]
    _run(facefusion_install, arguments, tmp_path)

    assert np.array_equal(read_rgb(output), read_rgb(blank))
