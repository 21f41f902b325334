"""The UI's widgets come from the catalog models: the right kind, range, default and text."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pytest

from ffpipe.catalog import OPS
from ffpipe.server.protocols.ui_widgets import ParamWidget, make_widget

MODELS = {
    "face_swapper_model": {
        "inswapper_128": {"status": "substituted", "used": "landmark warp"},
        "simswap_256": {"status": "refused", "used": "no such model"},
    }
}


def _widgets(op: str) -> dict[str, ParamWidget]:
    with gr.Blocks():
        return {name: make_widget(op, name, MODELS) for name in OPS[op].params.model_fields}


@pytest.fixture(scope="module")
def swap() -> dict[str, ParamWidget]:
    return _widgets("swap")


@pytest.mark.slow
def test_every_parameter_of_every_op_gets_a_widget() -> None:
    for op, spec in OPS.items():
        assert set(_widgets(op)) == set(spec.params.model_fields)


def test_a_range_is_a_slider_with_the_models_bounds_default_and_text(
    swap: dict[str, ParamWidget],
) -> None:
    blur = swap["face_mask_blur"].component
    assert isinstance(blur, gr.Slider)
    assert (blur.minimum, blur.maximum, blur.value) == (0.0, 1.0, 0.3)
    assert blur.info == OPS["swap"].params.model_fields["face_mask_blur"].description
    threads = swap["execution_thread_count"].component
    assert isinstance(threads, gr.Slider) and threads.step == 1


def test_choices_lists_numbers_and_files(swap: dict[str, ParamWidget]) -> None:
    model = swap["face_swapper_model"].component
    assert isinstance(model, gr.Dropdown) and model.value == "inswapper_128"
    labels = dict((value, label) for label, value in model.choices)
    assert labels["inswapper_128"] == "inswapper_128 (stand-in: landmark warp)"
    assert labels["simswap_256"] == "simswap_256 (refused: no such model)"
    assert "unknown to this engine" in labels["uniface_256"]
    masks = swap["face_mask_types"].component
    assert isinstance(masks, gr.Dropdown) and masks.multiselect and masks.value == ["box"]
    assert isinstance(swap["target_face_index"].component, gr.Number)
    assert isinstance(swap["skip_audio"].component, gr.Checkbox)
    assert swap["target_media"].kind == "file"
    assert swap["face_mask_padding"].kind == "json"


@pytest.mark.parametrize(
    ("name", "raw", "value"),
    [
        ("target_media", "/up/a.jpg", {"path": "/up/a.jpg"}),
        ("target_media", None, None),
        ("face_mask_padding", "[1, 2, 3, 4]", [1, 2, 3, 4]),
        ("face_mask_padding", " ", None),
        ("output_image_resolution", "", None),
        ("output_image_resolution", "640x480", "640x480"),
        ("target_face_index", None, None),
        ("face_mask_blur", 0.5, 0.5),
    ],
)
def test_widget_values_become_parameter_values(
    swap: dict[str, ParamWidget], name: str, raw: Any, value: Any
) -> None:
    assert swap[name].value_of(raw) == value


def test_text_that_is_not_json_is_refused_by_name(swap: dict[str, ParamWidget]) -> None:
    with pytest.raises(ValueError, match="face_mask_padding: not JSON"):
        swap["face_mask_padding"].value_of("[1, 2")
