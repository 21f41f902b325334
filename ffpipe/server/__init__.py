"""`ffpipe serve`: the catalog over real HTTP, a headless gradio app with an engine behind it.

The core (this folder) knows no protocol: :mod:`~ffpipe.server.settings`,
:mod:`~ffpipe.server.app` (starts it all), :mod:`~ffpipe.server.execute` (the one way to run an
op), :mod:`~ffpipe.server.errors` (the one refusal), :mod:`~ffpipe.server.files` (every file
access inside the server's own folders). ``http/`` is the plumbing under every protocol (auth,
guards, the request log), ``protocols/`` the ways in (gradio ops and jobs, legacy JSON, REST
jobs, the UI), ``jobs/`` the job domain. docs/architecture.md has the picture.
"""
