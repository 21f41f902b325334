"""Durable jobs on the server: a SQLite priority queue, workers, signed webhooks and REST.

Modules: ``store`` (the queue), ``worker`` (threads running jobs on the engine), ``webhooks``
(signed, retried callbacks), ``service`` (what REST and Gradio share), ``system`` (all of it
wired), ``standalone`` (a jobs-only server). The REST routes are
:mod:`ffpipe.server.protocols.rest_jobs`; the client side is :mod:`ffpipe.backends.jobs_client`.
Nothing is imported here.
"""
