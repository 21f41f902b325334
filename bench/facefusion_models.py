"""Tiny stand-in ONNX models that let FaceFusion 3.8.1's real code run end to end offline.

No model weights can be downloaded here, so the facefusion engine's tests write these instead: each
file has the name, input names, shapes and output layout that FaceFusion's code expects (read from
its 3.8.1 source), plus the ``NAME.hash`` file beside it (crc32 of the bytes, eight hex digits, no
newline) that FaceFusion checks before it would download anything. All of them together take
about 1 MB and a second or two to write.

This script needs ``numpy`` and ``onnx``, so it runs in FaceFusion's own environment
(``make facefusion-env``), not in ffpipe's::

    .venv-facefusion/bin/python bench/facefusion_models.py FACEFUSION_COPY [--faces JSON]

It writes into ``FACEFUSION_COPY/.assets/models`` and prints a JSON summary. From ffpipe's tests
and the bench, call ``bench.facefusion_testbed.install_test_models`` instead, which runs it.

What the fakes do (docs/facefusion-testing.md has the full table):

- Detectors (yolo_face, scrfd, retinaface, yunet) find the image inside the detector's padded
  frame and report one face per entry of ``faces``, each a box given as fractions of the image's
  width and height (left, top, right, bottom). So the same models put the face in the same place
  of any image, whatever its size; an empty (all-black) frame has no face.
- Landmarkers (2dfan4, peppa_wutz, fan_68_5) return one fixed, level 68-point face shape fitted
  to the box, with a confident score.
- The recognizer (arcface) returns the coarse 8x8 luminance layout of the aligned face crop,
  centred: crops of the same face agree, different faces differ, and it is never zero.
- The classifier (fairface) always answers female, 30-39, white.
- The content analyser (nsfw_1/2/3) always answers safe; the occluder (xseg) sees no occlusion
  and the parser (bisenet) calls every pixel skin.
- Swappers invert the colours of the face crop and tint it by the source identity; enhancers
  brighten the crop (codeformer by its weight input); the face editor (live_portrait) brightens
  the crop by how far the requested expression and pose move the face's motion points; the age
  modifiers darken/brighten (fran) or draw a checker over (styleganex_age) the crop by the
  requested direction.
"""

from __future__ import annotations

import argparse
import json
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
FLOAT = TensorProto.FLOAT

RelativeBox = tuple[float, float, float, float]
"""left, top, right, bottom as fractions of the image's width and height."""

DEFAULT_FACES: tuple[RelativeBox, ...] = ((0.3, 0.2, 0.7, 0.6),)
DETECTOR_SCORE = 0.9
LANDMARK_CONFIDENCE = 0.95
FAIRFACE = {"race_id": 0, "gender_id": 1, "age_id": 4}
"""white, female, 30-39: FaceFusion's own categories."""

FFHQ_512_TEMPLATE = np.array(
    [[0.37691676, 0.46864664], [0.62285697, 0.46912813], [0.50123859, 0.61331904],
     [0.39308822, 0.72541100], [0.61150205, 0.72490465]],
)  # fmt: skip
"""FaceFusion's 'ffhq_512' five-point template: fan_68_5 works in its unit square."""


def _canonical_face_68() -> np.ndarray:
    """A plausible, symmetric 68-point face (iBUG order) in its own box's unit square.

    Points 0 and 16 are level, so FaceFusion estimates no roll; eye centres, nose tip and mouth
    corners are where the detectors put the five landmarks.
    """
    t = np.linspace(0.0, 1.0, 17)
    jaw = np.stack([0.5 - 0.48 * np.cos(np.pi * t), 0.38 + 0.6 * np.sin(np.pi * t)], axis=1)
    u = np.linspace(0.0, 1.0, 5)
    left_brow = np.stack([0.15 + 0.28 * u, 0.28 - 0.04 * np.sin(np.pi * u)], axis=1)
    right_brow = np.stack([0.57 + 0.28 * u, 0.28 - 0.04 * np.sin(np.pi * u)], axis=1)
    bridge = np.array([[0.5, 0.38], [0.5, 0.45], [0.5, 0.52], [0.5, 0.58]])
    nostrils = np.array([[0.42, 0.62], [0.46, 0.635], [0.5, 0.64], [0.54, 0.635], [0.58, 0.62]])
    eye_offsets = np.array(
        [[-0.07, 0.0], [-0.025, -0.025], [0.025, -0.025], [0.07, 0.0], [0.025, 0.025],
         [-0.025, 0.025]],
    )  # fmt: skip
    left_eye = eye_offsets + np.array([0.33, 0.40])
    right_eye = eye_offsets + np.array([0.67, 0.40])
    outer_lips = np.array(
        [[0.37, 0.76], [0.42, 0.735], [0.47, 0.725], [0.5, 0.73], [0.53, 0.725], [0.58, 0.735],
         [0.63, 0.76], [0.58, 0.79], [0.53, 0.80], [0.5, 0.805], [0.47, 0.80], [0.42, 0.79]],
    )  # fmt: skip
    inner_lips = np.array(
        [[0.39, 0.76], [0.45, 0.75], [0.5, 0.75], [0.55, 0.75], [0.61, 0.76], [0.55, 0.77],
         [0.5, 0.772], [0.45, 0.77]],
    )  # fmt: skip
    parts = [
        jaw,
        left_brow,
        right_brow,
        bridge,
        nostrils,
        left_eye,
        right_eye,
        outer_lips,
        inner_lips,
    ]
    return np.concatenate(parts).astype(np.float64)


FACE_68 = _canonical_face_68()
FACE_5 = np.array(
    [
        FACE_68[36:42].mean(axis=0),
        FACE_68[42:48].mean(axis=0),
        FACE_68[30],
        FACE_68[48],
        FACE_68[54],
    ]
)


class _Graph:
    """Accumulates ONNX nodes with generated tensor names; one instance per model file."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self._count = 0

    def _name(self) -> str:
        self._count += 1
        return f"t{self._count}"

    def input(self, name: str, shape: Sequence[int | str], dtype: int = FLOAT) -> str:
        self.inputs.append(helper.make_tensor_value_info(name, dtype, list(shape)))
        return name

    def const(self, value: object, dtype: type = np.float32) -> str:
        name = self._name()
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, **attributes: object) -> str:
        return self.ops(op_type, inputs, 1, **attributes)[0]

    def ops(
        self, op_type: str, inputs: Sequence[str], count: int, **attributes: object
    ) -> list[str]:
        outputs = [self._name() for _ in range(count)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outputs, **attributes))
        return outputs

    def output(self, name: str, value: str, dtype: int = FLOAT) -> None:
        self.nodes.append(helper.make_node("Identity", [value], [name]))
        self.outputs.append(helper.make_tensor_value_info(name, dtype, None))

    def zero_like_scalar(self, tensor: str) -> str:
        """A [1] zero that depends on ``tensor``, so every output is computed from the input."""
        return self.op("Mul", self.op("ReduceMean", tensor, keepdims=0), self.const([0.0]))

    def constant_from(self, tensor: str, value: np.ndarray) -> str:
        """``value`` as a graph result that still reads ``tensor``."""
        return self.op("Add", self.const(value), self.zero_like_scalar(tensor))

    def save(self, path: Path, name: str) -> None:
        graph = helper.make_graph(self.nodes, name, self.inputs, self.outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = IR_VERSION
        model.producer_name = "ffpipe-test-models"
        # outputs are declared by type only; shape inference fills in their shapes
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        onnx.checker.check_model(model)
        content = model.SerializeToString()
        path.write_bytes(content)
        path.with_suffix(".hash").write_text(format(zlib.crc32(content), "08x"))


# -- detectors ------------------------------------------------------------------------------------


def _content_vector(g: _Graph, frame: str, background: float) -> tuple[str, str]:
    """Where the image sits inside the detector's padded frame.

    Returns ``v`` = [1, left, width, top, height] as a [5, 1] column (pixels of the detector frame)
    and ``valid`` ([1], 1.0 when the frame holds any image). Every detector output below is a
    linear function of ``v``, multiplied by ``valid``.
    """
    difference = g.op("Abs", g.op("Sub", frame, g.const(background)))

    def extent(profile: str) -> tuple[str, str]:
        mask = g.op("Cast", g.op("Greater", profile, g.const(1e-3)), to=FLOAT)
        ones = g.op("Add", g.op("Mul", profile, g.const(0.0)), g.const(1.0))
        index = g.op("CumSum", ones, g.const(1, np.int64))
        end = g.op("ReduceMax", g.op("Mul", mask, index), axes=[1], keepdims=0)
        outside = g.op("Mul", g.op("Sub", g.const(1.0), mask), g.const(1e9))
        first = g.op("ReduceMin", g.op("Add", index, outside), axes=[1], keepdims=0)
        start = g.op("Sub", first, g.const([1.0]))
        return start, g.op("Relu", g.op("Sub", end, start))

    left, width = extent(g.op("ReduceMax", difference, axes=[1, 2], keepdims=0))
    top, height = extent(g.op("ReduceMax", difference, axes=[1, 3], keepdims=0))
    one = g.op("Add", g.zero_like_scalar(frame), g.const([1.0]))
    vector = g.op(
        "Reshape", g.op("Concat", one, left, width, top, height, axis=0), g.const([5, 1], np.int64)
    )
    valid = g.op("Cast", g.op("Greater", g.op("Mul", width, height), g.const([0.0])), to=FLOAT)
    return vector, valid


def _x(fraction: float) -> np.ndarray:
    """Coefficients on ``v`` of the x coordinate at ``fraction`` of the image's width."""
    return np.array([0.0, 1.0, fraction, 0.0, 0.0])


def _y(fraction: float) -> np.ndarray:
    return np.array([0.0, 0.0, 0.0, 1.0, fraction])


_ONE = np.array([1.0, 0.0, 0.0, 0.0, 0.0])


def _landmark_fractions(face: RelativeBox) -> np.ndarray:
    """The five landmarks of ``face`` as fractions of the image's width and height."""
    left, top, right, bottom = face
    return np.stack(
        [left + FACE_5[:, 0] * (right - left), top + FACE_5[:, 1] * (bottom - top)], axis=1
    )


def _apply(g: _Graph, rows: np.ndarray, vector: str, valid: str, shape: Sequence[int]) -> str:
    """``rows`` (k x 5 coefficients) times ``v``, zeroed when there is no image, reshaped."""
    values = g.op("MatMul", g.const(rows), vector)
    values = g.op("Mul", values, valid)
    return g.op("Reshape", values, g.const(list(shape), np.int64))


def write_yolo_face(path: Path, faces: Sequence[RelativeBox]) -> None:
    """yoloface_8n: [1,3,S,S] RGB 0..1 -> [1, 20, N] (cx, cy, w, h, score, 5 x (x, y, visible)).

    Column 0 stays empty: FaceFusion's decoder drops a detection at index 0.
    """
    g = _Graph()
    frame = g.input("input", [1, 3, "height", "width"])
    vector, valid = _content_vector(g, frame, 0.0)
    columns = [np.zeros((20, 5))]
    for face in faces:
        left, top, right, bottom = face
        rows = [
            _x((left + right) / 2),
            _y((top + bottom) / 2),
            _x(right) - _x(left),
            _y(bottom) - _y(top),
        ]
        rows.append(DETECTOR_SCORE * _ONE)
        for fx, fy in _landmark_fractions(face):
            rows += [_x(fx), _y(fy), _ONE]
        columns.append(np.array(rows))
    matrix = np.stack(columns, axis=1).reshape(-1, 5)  # row-major over (20, N)
    g.output("output", _apply(g, matrix, vector, valid, [1, 20, len(columns)]))
    g.save(path, "yoloface_8n")


def _stride_zeros(g: _Graph, frame: str, stride: int, anchors: int, width: int) -> str:
    """A [anchors * (H/stride) * (W/stride), width] zero block, sized from the input at run time."""
    pooled = g.op("AveragePool", frame, kernel_shape=[stride, stride], strides=[stride, stride])
    grid = g.op("Mul", g.op("ReduceMean", pooled, axes=[1], keepdims=1), g.const(0.0))
    column = g.op("Reshape", grid, g.const([-1, 1], np.int64))
    return g.op("Tile", column, g.const([anchors, width], np.int64))


def _scatter_rows(g: _Graph, zeros: str, rows: Sequence[int], values: str) -> str:
    indices = g.const([[row] for row in rows], np.int64)
    return g.op("ScatterND", zeros, indices, values)


def write_anchor_detector(path: Path, faces: Sequence[RelativeBox], background: float) -> None:
    """scrfd_2.5g / retinaface_10g: 9 outputs, scores (N,1) / boxes (N,4) / keypoints (N,10) for
    strides 8, 16, 32, N = 2 anchors per cell. Face k sits on anchor 2k+1 of stride 32, whose
    centre is (32k, 0); boxes are left/top/right/bottom distances in stride units."""
    g = _Graph()
    frame = g.input("input", [1, 3, "height", "width"])
    vector, valid = _content_vector(g, frame, background)
    stride = 32
    per_face = []
    for index, face in enumerate(faces):
        anchor_x, anchor_y = stride * index * _ONE, 0.0 * _ONE
        left, top, right, bottom = face
        rows = [DETECTOR_SCORE * _ONE]
        rows += [
            anchor_x - _x(left),
            anchor_y - _y(top),
            _x(right) - anchor_x,
            _y(bottom) - anchor_y,
        ]
        for fx, fy in _landmark_fractions(face):
            rows += [_x(fx) - anchor_x, _y(fy) - anchor_y]
        per_face.append(np.array(rows) / np.array([1.0] + [stride] * 14)[:, None])
    values = _apply(g, np.concatenate(per_face), vector, valid, [len(faces), 15])
    scores, boxes, points = g.ops("Split", [values, g.const([1, 4, 10], np.int64)], 3, axis=1)
    face_rows = [2 * index + 1 for index in range(len(faces))]
    outputs: dict[str, list[str]] = {"score": [], "box": [], "points": []}
    for feature_stride in (8, 16, 32):
        for kind, width, update in (
            ("score", 1, scores),
            ("box", 4, boxes),
            ("points", 10, points),
        ):
            zeros = _stride_zeros(g, frame, feature_stride, 2, width)
            outputs[kind].append(
                _scatter_rows(g, zeros, face_rows, update) if feature_stride == stride else zeros
            )
    for kind in ("score", "box", "points"):
        for feature_stride, value in zip((8, 16, 32), outputs[kind], strict=True):
            g.output(f"{kind}_{feature_stride}", value)
    g.save(path, path.stem)


def write_yunet(path: Path, faces: Sequence[RelativeBox]) -> None:
    """yunet_2023_mar: 12 outputs, cls / obj [1,P,1], bbox [1,P,4], kps [1,P,10] for strides 8, 16,
    32, one anchor per cell. Face k sits on cell k+1 of stride 32, centre (32(k+1), 0); bbox is
    (dx, dy, log(w/s), log(h/s)), keypoints offsets in stride units."""
    g = _Graph()
    frame = g.input("input", [1, 3, "height", "width"])
    vector, valid = _content_vector(g, frame, 0.0)
    stride = 32
    per_face = []
    for index, face in enumerate(faces):
        anchor_x, anchor_y = stride * (index + 1) * _ONE, 0.0 * _ONE
        left, top, right, bottom = face
        rows = [_ONE, _ONE]
        rows += [_x((left + right) / 2) - anchor_x, _y((top + bottom) / 2) - anchor_y]
        rows += [_x(right) - _x(left), _y(bottom) - _y(top)]
        for fx, fy in _landmark_fractions(face):
            rows += [_x(fx) - anchor_x, _y(fy) - anchor_y]
        scale = np.array([DETECTOR_SCORE, 1.0] + [1.0 / stride] * 14)[:, None]
        per_face.append(np.array(rows) * scale)
    values = _apply(g, np.concatenate(per_face), vector, valid, [len(faces), 16])
    cls, obj, centre, size, points = g.ops(
        "Split", [values, g.const([1, 1, 2, 2, 10], np.int64)], 5, axis=1
    )
    # log of a zero size (no image) would be -inf; the score is zero then anyway
    size = g.op("Log", g.op("Max", size, g.const(1e-6)))
    bbox = g.op("Concat", centre, size, axis=1)
    face_rows = [index + 1 for index in range(len(faces))]
    outputs: dict[str, list[str]] = {"cls": [], "obj": [], "bbox": [], "kps": []}
    for feature_stride in (8, 16, 32):
        for kind, width, update in (
            ("cls", 1, cls),
            ("obj", 1, obj),
            ("bbox", 4, bbox),
            ("kps", 10, points),
        ):
            zeros = _stride_zeros(g, frame, feature_stride, 1, width)
            if feature_stride == stride:
                zeros = _scatter_rows(g, zeros, face_rows, update)
            outputs[kind].append(g.op("Unsqueeze", zeros, g.const([0], np.int64)))
    for kind in ("cls", "obj", "bbox", "kps"):
        for feature_stride, value in zip((8, 16, 32), outputs[kind], strict=True):
            g.output(f"{kind}_{feature_stride}", value)
    g.save(path, "yunet_2023_mar")


# -- landmarks, identity, attributes --------------------------------------------------------------


def _face_in_landmarker_crop() -> np.ndarray:
    """FACE_68 in 64-pixel heatmap units of FaceFusion's 256 crop, where the (square) box is scaled
    to 195 pixels and centred."""
    return (128.0 - 97.5 + 195.0 * FACE_68) / 4.0


def write_2dfan4(path: Path) -> None:
    """2dfan4: [1,3,256,256] -> landmarks [1,68,3] (64-px units), heatmaps [1,68,64,64]."""
    g = _Graph()
    crop = g.input("input", [1, 3, 256, 256])
    points = np.concatenate([_face_in_landmarker_crop(), np.ones((68, 1))], axis=1)[None]
    g.output("landmarks", g.constant_from(crop, points.astype(np.float32)))
    peak = g.constant_from(crop, np.full((1, 68, 1, 1), LANDMARK_CONFIDENCE * 0.9, np.float32))
    g.output("heatmaps", g.op("Expand", peak, g.const([1, 68, 64, 64], np.int64)))
    g.save(path, "2dfan4")


def write_peppa_wutz(path: Path) -> None:
    """peppa_wutz: [1,3,256,256] -> [1, 204] = 68 x (x, y, score), x/y in 64-px units."""
    g = _Graph()
    crop = g.input("input", [1, 3, 256, 256])
    points = np.concatenate(
        [_face_in_landmarker_crop(), np.full((68, 1), LANDMARK_CONFIDENCE * 0.95)], axis=1
    )
    g.output("output", g.constant_from(crop, points.reshape(1, -1).astype(np.float32)))
    g.save(path, "peppa_wutz")


def _similarity(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares scale, rotation and translation taking ``source`` points onto ``target``."""
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    a, b = source - source_mean, target - target_mean
    u, singular, vt = np.linalg.svd(b.T @ a)
    rotation = u @ vt
    scale = singular.sum() / (a**2).sum()
    return scale, rotation, target_mean - scale * source_mean @ rotation.T


def write_fan_68_5(path: Path) -> None:
    """fan_68_5: five landmarks [1,5,2] in FaceFusion's ffhq_512 unit square -> [1,68,2] there.

    Answers FACE_68 fitted to the ffhq template, moved by where the five input points sit.
    """
    scale, rotation, shift = _similarity(FACE_5, FFHQ_512_TEMPLATE)
    face = scale * FACE_68 @ rotation.T + shift
    g = _Graph()
    points = g.input("input", [1, 5, 2])
    offset = g.op(
        "Sub",
        g.op("ReduceMean", points, axes=[1], keepdims=1),
        g.const(FFHQ_512_TEMPLATE.mean(axis=0)),
    )
    g.output("output", g.op("Add", g.const(face[None]), offset))
    g.save(path, "fan_68_5")


def write_arcface(path: Path) -> None:
    """arcface_w600k_r50: [1,3,112,112] -> [1,512]: the crop's 8x8 luminance layout, centred, tiled.

    A small fixed ramp keeps a flat crop's embedding non-zero (FaceFusion divides by its norm).
    """
    g = _Graph()
    crop = g.input("input", [1, 3, 112, 112])
    grey = g.op("ReduceMean", crop, axes=[1], keepdims=1)
    cells = g.op(
        "Reshape",
        g.op("AveragePool", grey, kernel_shape=[14, 14], strides=[14, 14]),
        g.const([1, 64], np.int64),
    )
    centred = g.op("Sub", cells, g.op("ReduceMean", cells, axes=[1], keepdims=1))
    embedding = g.op("Tile", centred, g.const([1, 8], np.int64))
    g.output("output", g.op("Add", embedding, g.const(np.linspace(-1e-3, 1e-3, 512)[None])))
    g.save(path, "arcface_w600k_r50")


def write_fairface(path: Path) -> None:
    """fairface: [1,3,224,224] -> race_id, gender_id, age_id (int64 [1]), in that order."""
    g = _Graph()
    crop = g.input("input", [1, 3, 224, 224])
    zero = g.op("Cast", g.zero_like_scalar(crop), to=TensorProto.INT64)
    for name, value in FAIRFACE.items():
        g.output(name, g.op("Add", zero, g.const([value], np.int64)), TensorProto.INT64)
    g.save(path, "fairface")


def write_nsfw(path: Path, size: int, shape: Sequence[int]) -> None:
    """nsfw_1/2/3: [1,3,S,S] -> all-zero scores, which FaceFusion reads as safe."""
    g = _Graph()
    frame = g.input("input", [1, 3, size, size])
    g.output("output", g.constant_from(frame, np.zeros(shape, np.float32)))
    g.save(path, path.stem)


def write_xseg(path: Path) -> None:
    """xseg_1/2/3 (occluder): [1,256,256,3] 0..1 -> [1,256,256,1] all ones: nothing occludes."""
    g = _Graph()
    crop = g.input("input", [1, 256, 256, 3])
    ones = g.op(
        "Add",
        g.op("Mul", g.op("ReduceMax", crop, axes=[3], keepdims=1), g.const(0.0)),
        g.const(1.0),
    )
    g.output("output", ones)
    g.save(path, path.stem)


def write_bisenet(path: Path) -> None:
    """bisenet_resnet_18/34 (parser): [1,3,512,512] -> [1,19,512,512]; class 1 (skin) wins."""
    g = _Graph()
    crop = g.input("input", [1, 3, 512, 512])
    weights = g.const(np.zeros((19, 3, 1, 1)))
    bias = g.const(np.eye(19)[1])
    g.output("output", g.op("Conv", crop, weights, bias))
    g.save(path, path.stem)


# -- processors -----------------------------------------------------------------------------------

_SWAPPERS: dict[str, tuple[int, float | Sequence[float], float | Sequence[float], bool, str]] = {
    # name: size, mean, standard deviation, output de-normalised by FaceFusion, source kind
    "blendswap_256": (256, 0.0, 1.0, False, "image112"),
    "ghost_1_256": (256, 0.5, 0.5, True, "embedding"),
    "ghost_2_256": (256, 0.5, 0.5, True, "embedding"),
    "ghost_3_256": (256, 0.5, 0.5, True, "embedding"),
    "hififace_unofficial_256": (256, 0.5, 0.5, True, "embedding"),
    "hyperswap_1a_256": (256, 0.5, 0.5, True, "embedding"),
    "hyperswap_1b_256": (256, 0.5, 0.5, True, "embedding"),
    "hyperswap_1c_256": (256, 0.5, 0.5, True, "embedding"),
    "inswapper_128": (128, 0.0, 1.0, False, "embedding"),
    "inswapper_128_fp16": (128, 0.0, 1.0, False, "embedding"),
    "simswap_256": (256, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), False, "embedding"),
    "simswap_unofficial_512": (512, 0.0, 1.0, False, "embedding"),
    "uniface_256": (256, 0.5, 0.5, True, "image256"),
}
SOURCE_TINT = 2.0
"""Grey levels (0..1) of tint per unit of the source's first embedding value: different source
faces give visibly different swaps."""


def write_swapper(path: Path, name: str) -> None:
    """A face swapper: ``target`` crop [1,3,S,S] + ``source`` -> the crop with its colours inverted
    (1 - x in RGB 0..1) and tinted by the source, in the model's own normalisation."""
    size, mean, deviation, denormalised, source_kind = _SWAPPERS[name]
    m = np.broadcast_to(np.asarray(mean, np.float64), (3,)).reshape(1, 3, 1, 1)
    s = np.broadcast_to(np.asarray(deviation, np.float64), (3,)).reshape(1, 3, 1, 1)
    g = _Graph()
    if source_kind == "embedding":
        source = g.input("source", [1, 512])
        first = g.op(
            "Slice", source, g.const([0], np.int64), g.const([1], np.int64), g.const([1], np.int64)
        )
        tint = g.op("Mul", first, g.const([SOURCE_TINT]))
    else:
        source_size = 112 if source_kind == "image112" else 256
        source = g.input("source", [1, 3, source_size, source_size])
        tint = g.op("Sub", g.op("ReduceMean", source, keepdims=0), g.const([0.5]))
    target = g.input("target", [1, 3, size, size])
    rgb = g.op("Add", g.op("Mul", target, g.const(s)), g.const(m))
    swapped = g.op("Add", g.op("Sub", g.const(1.0), rgb), tint)
    if denormalised:
        swapped = g.op("Div", g.op("Sub", swapped, g.const(m)), g.const(s))
    g.output("output", swapped)
    if name.startswith("inswapper"):
        # FaceFusion maps the source embedding through the graph's LAST initializer (the 512x512
        # "emap"); identity, stored as int8 to keep the file at a quarter megabyte.
        g.initializers.append(numpy_helper.from_array(np.eye(512, dtype=np.int8), "emap"))
    g.save(path, name)


def write_embedding_converter(path: Path) -> None:
    """crossface_ghost / simswap / hififace: [N,512] -> [N,512], passed through."""
    g = _Graph()
    embedding = g.input("input", ["batch", 512])
    g.output("output", g.op("Identity", embedding))
    g.save(path, path.stem)


_ENHANCERS = {
    "codeformer": 512,
    "gfpgan_1.2": 512,
    "gfpgan_1.3": 512,
    "gfpgan_1.4": 512,
    "gpen_bfr_256": 256,
    "gpen_bfr_512": 512,
    "gpen_bfr_1024": 1024,
    "gpen_bfr_2048": 2048,
    "restoreformer_plus_plus": 512,
}


def write_enhancer(path: Path, name: str) -> None:
    """A face enhancer: ``input`` [1,3,S,S] -1..1 -> 0.5 x + 0.5 (brighter, flatter). codeformer
    also declares FaceFusion's ``weight`` input (float64 [1]) and brightens by it instead."""
    size = _ENHANCERS[name]
    g = _Graph()
    crop = g.input("input", [1, 3, size, size])
    offset = g.const([0.5])
    if name == "codeformer":
        offset = g.op("Cast", g.input("weight", [1], TensorProto.DOUBLE), to=FLOAT)
    g.output("output", g.op("Add", g.op("Mul", crop, g.const(0.5)), offset))
    g.save(path, name)


LIVE_PORTRAIT_EDIT_GAIN = 10.0
"""Brightness (0..1) the fake generator adds per unit of the largest motion-point displacement
(FaceFusion's expression edits move single points by 0.002-0.06)."""


def write_live_portrait(models: Path) -> list[Path]:
    """The six live_portrait models of the face editor.

    The feature extractor passes the 256 crop through as the "feature volume"; the motion
    extractor reports a neutral pose (0 degrees), scale 1, no translation or expression, and a
    fixed grid of 21 motion points; retargeters scale their input points; the stitcher passes the
    edited points through; the generator upsamples the crop to 512 and brightens it by how far the
    edited points moved (the largest move), so no edit leaves the face as it was (but for
    resampling) and any edit brightens it.
    """
    written = []
    g = _Graph()
    crop = g.input("input", [1, 3, 256, 256])
    g.output("output", g.op("Identity", crop))
    written.append(_save(g, models / "live_portrait_feature_extractor.onnx"))

    g = _Graph()
    crop = g.input("input", [1, 3, 256, 256])
    grid = np.stack(
        np.meshgrid(np.linspace(-0.5, 0.5, 7), np.linspace(-0.5, 0.5, 3)), axis=-1
    ).reshape(21, 2)
    motion_points = np.concatenate([grid, np.zeros((21, 1))], axis=1)[None].astype(np.float32)
    for name, value in (
        ("pitch", np.float32(0.0)),
        ("yaw", np.float32(0.0)),
        ("roll", np.float32(0.0)),
        ("scale", np.ones((1, 1), np.float32)),
        ("translation", np.zeros((1, 3), np.float32)),
        ("expression", np.zeros((1, 21, 3), np.float32)),
        ("motion_points", motion_points),
    ):
        value_from_crop = g.op(
            "Add", g.const(value), g.op("ReduceMean", g.op("Mul", crop, g.const(0.0)), keepdims=0)
        )
        g.output(name, value_from_crop)
    written.append(_save(g, models / "live_portrait_motion_extractor.onnx"))

    for name, width in (("eye", 66), ("lip", 65)):
        g = _Graph()
        points = g.input("input", [1, width])
        head = g.op(
            "Slice", points, g.const([0], np.int64), g.const([63], np.int64), g.const([1], np.int64)
        )
        g.output("output", g.op("Mul", head, g.const(0.1)))
        written.append(_save(g, models / f"live_portrait_{name}_retargeter.onnx"))

    g = _Graph()
    source = g.input("source", [1, 21, 3])
    g.input("target", [1, 21, 3])
    g.output("output", g.op("Identity", source))
    written.append(_save(g, models / "live_portrait_stitcher.onnx"))

    g = _Graph()
    features = g.input("feature_volume", [1, 3, 256, 256])
    source = g.input("source", [1, 21, 3])
    target = g.input("target", [1, 21, 3])
    movement = g.op("ReduceMax", g.op("Abs", g.op("Sub", source, target)), keepdims=0)
    frame = g.op("Resize", features, "", g.const([1.0, 1.0, 2.0, 2.0]), mode="linear")
    g.output("output", g.op("Add", frame, g.op("Mul", movement, g.const(LIVE_PORTRAIT_EDIT_GAIN))))
    written.append(_save(g, models / "live_portrait_generator.onnx"))
    return written


def write_fran(path: Path) -> None:
    """fran: ``target`` [1,3,1024,1024] RGB 0..1 + ``direction`` [2] (current age, wanted age, /100)
    -> the crop darkened by how much older (brightened by how much younger) it should look."""
    g = _Graph()
    crop = g.input("target", [1, 3, 1024, 1024])
    direction = g.input("direction", [2])
    current, wanted = g.ops("Split", [direction, g.const([1, 1], np.int64)], 2, axis=0)
    g.output("output", g.op("Sub", crop, g.op("Sub", wanted, current)))
    g.save(path, "fran")


def write_styleganex_age(path: Path) -> None:
    """styleganex_age: ``target`` [1,3,256,256], ``target_with_background`` [1,3,384,384] -1..1,
    ``direction`` (scalar, -2.5..2.5) -> the wider crop at 1024 overlaid with a checker of 32-pixel
    squares, strength |direction| / 2.5. FaceFusion colour-matches this output to the input crop
    on a 16x16 grid, which undoes a brightness change and hides a mirror image (faces are nearly
    symmetric); squares finer than that grid but coarser than the pasted face's pixels survive."""
    g = _Graph()
    g.input("target", [1, 3, 256, 256])
    wide = g.input("target_with_background", [1, 3, 384, 384])
    direction = g.input("direction", [])
    large = g.op("Resize", wide, "", "", g.const([1, 3, 1024, 1024], np.int64), mode="nearest")
    cell = g.const([[[[0.5, -0.5], [-0.5, 0.5]]]])
    square = g.op("Resize", cell, "", "", g.const([1, 1, 64, 64], np.int64), mode="nearest")
    checker = g.op("Tile", square, g.const([1, 1, 16, 16], np.int64))
    amount = g.op("Div", g.op("Abs", direction), g.const(2.5))
    g.output("output", g.op("Add", large, g.op("Mul", checker, amount)))
    g.save(path, "styleganex_age")


def _save(g: _Graph, path: Path) -> Path:
    g.save(path, path.stem)
    return path


def write_test_models(models: Path, faces: Sequence[RelativeBox] = DEFAULT_FACES) -> list[Path]:
    """Write every stand-in model (and its .hash) into ``models``; returns the .onnx paths."""
    if not faces:
        raise ValueError("faces: at least one face box is needed (detectors report these)")
    for face in faces:
        left, top, right, bottom = face
        if not (0.0 <= left < right <= 1.0 and 0.0 <= top < bottom <= 1.0):
            raise ValueError(f"faces: {face} is not (left, top, right, bottom) fractions in 0..1")
    models.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def model(name: str) -> Path:
        path = models / f"{name}.onnx"
        written.append(path)
        return path

    write_yolo_face(model("yoloface_8n"), faces)
    write_anchor_detector(model("scrfd_2.5g"), faces, background=-127.5 / 128.0)
    write_anchor_detector(model("retinaface_10g"), faces, background=-127.5 / 128.0)
    write_yunet(model("yunet_2023_mar"), faces)
    write_2dfan4(model("2dfan4"))
    write_peppa_wutz(model("peppa_wutz"))
    write_fan_68_5(model("fan_68_5"))
    write_arcface(model("arcface_w600k_r50"))
    write_fairface(model("fairface"))
    write_nsfw(model("nsfw_1"), 640, [1, 5, 2])
    write_nsfw(model("nsfw_2"), 384, [1, 2])
    write_nsfw(model("nsfw_3"), 448, [1, 4])
    for name in ("xseg_1", "xseg_2", "xseg_3"):
        write_xseg(model(name))
    for name in ("bisenet_resnet_18", "bisenet_resnet_34"):
        write_bisenet(model(name))
    for name in _SWAPPERS:
        write_swapper(model(name), name)
    for name in ("crossface_ghost", "crossface_simswap", "crossface_hififace"):
        write_embedding_converter(model(name))
    for name in _ENHANCERS:
        write_enhancer(model(name), name)
    written += write_live_portrait(models)
    write_fran(model("fran"))
    write_styleganex_age(model("styleganex_age"))
    return written


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description="Write FaceFusion 3.8.1 stand-in test models.")
    parser.add_argument("facefusion", type=Path, help="a (copied, writable) FaceFusion checkout")
    parser.add_argument(
        "--faces", default=json.dumps(DEFAULT_FACES), help="JSON list of [l, t, r, b] fractions"
    )
    args = parser.parse_args(argv)
    faces = [tuple(float(v) for v in face) for face in json.loads(args.faces)]
    written = write_test_models(args.facefusion / ".assets" / "models", faces)
    total = sum(path.stat().st_size for path in written)
    print(json.dumps({"models": [path.stem for path in written], "bytes": total, "faces": faces}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
