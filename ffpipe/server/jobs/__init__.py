"""Durable jobs on the server: a SQLite priority queue, workers, signed webhooks, REST and client.

Modules: ``store`` (the queue), ``worker`` (threads running jobs on the engine), ``webhooks``
(signed, retried callbacks), ``service`` (what REST and Gradio share), ``api`` (``/api/jobs``),
``system`` (all of it wired), ``client`` (``JobsClient``), ``standalone`` (a jobs-only server).
Nothing is imported here, so ``from ffpipe.server.jobs.client import JobsClient`` stays light.
"""
