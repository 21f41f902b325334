"""A :class:`~ffpipe.server.errors.RequestError` as gradio raises it from an endpoint."""

from __future__ import annotations

import json

import gradio as gr

from ffpipe.server.errors import RequestError, status_title


def gradio_error(error: RequestError) -> gr.Error:
    """A gradio error whose message is the catalog's error document as JSON.

    Its title carries the HTTP status (gradio answers every endpoint exception 500 on its
    ``run`` and ``api`` routes; the error-shape guard restores the status from the title).
    """
    return gr.Error(
        json.dumps(error.shape()), title=status_title(error.status), print_exception=False
    )
