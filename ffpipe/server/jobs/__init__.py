"""Durable jobs on the server, the domain only: a SQLite priority queue, workers, signed webhooks.

Modules: ``store`` (the queue), ``worker`` (threads running jobs on the engine), ``webhooks``
(signed, retried callbacks), ``service`` (what every protocol does with jobs), ``system`` (all of
it wired). Nothing here serves HTTP: the REST routes are :mod:`ffpipe.server.protocols.rest_jobs`,
the gradio endpoints :mod:`ffpipe.server.protocols.gradio_jobs`, a jobs-only server
:mod:`ffpipe.server.jobs_app`; the client side is :mod:`ffpipe.backends.jobs_client`.
Nothing is imported here.
"""
