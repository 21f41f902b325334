"""`ffpipe serve`: the catalog over real HTTP, a headless gradio app with an engine behind it.

:func:`ffpipe.server.app.start` launches it; :mod:`ffpipe.server.protocols.gradio_ops` builds the
gradio
endpoints from the catalog models, :mod:`ffpipe.server.protocols.legacy` adds the legacy JSON
protocol,
:mod:`ffpipe.server.files` keeps every file access inside the server's own folders.
"""
