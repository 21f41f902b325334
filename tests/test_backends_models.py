"""Stand-ins read from a capabilities document: the builtin engine's own, and one naming exact
models (as a server with the real models would)."""

from __future__ import annotations

from ffpipe.backends.models import StandIn, model_choices, stand_ins
from ffpipe.engine.builtin import BuiltinEngine


def test_model_choices_fill_in_catalog_defaults() -> None:
    assert model_choices("swap", {"face_swapper_model": "simswap_256"}) == {
        "face_detector_model": "retinaface",
        "face_landmarker_model": "2dfan4",
        "face_swapper_model": "simswap_256",
    }
    assert model_choices("video", {}) == {}


def test_the_builtin_engine_stands_in_for_every_named_model() -> None:
    found = stand_ins(
        BuiltinEngine().capabilities(), "enhance", {"face_enhancer_model": "codeformer"}
    )
    assert {stand_in.parameter for stand_in in found} == {
        "face_detector_model",
        "face_landmarker_model",
        "face_enhancer_model",
    }
    enhancer = next(s for s in found if s.parameter == "face_enhancer_model")
    assert enhancer.requested == "codeformer" and enhancer.used


def test_exact_models_are_not_stand_ins() -> None:
    capabilities = {
        "models": {
            "face_swapper_model": {"inswapper_128": {"status": "exact"}},
            "face_detector_model": {"retinaface": {"status": "substituted", "used": "hog"}},
        }
    }
    assert stand_ins(capabilities, "swap", {}) == [
        StandIn("face_detector_model", "retinaface", "hog")
    ]
    assert str(StandIn("p", "a", "b")) == "a -> b"


def test_process_names_only_the_models_of_its_processors() -> None:
    capabilities = BuiltinEngine().capabilities()
    found = stand_ins(capabilities, "process", {"processors": ["enhance"]})
    assert {stand_in.parameter for stand_in in found} == {
        "face_detector_model",
        "face_landmarker_model",
        "face_enhancer_model",
    }
    chain = model_choices("process", {"processors": ["swap", "edit"], "face_editor_model": "x"})
    assert chain["face_editor_model"] == "x"
    assert "face_enhancer_model" not in chain and "face_swapper_model" in chain
