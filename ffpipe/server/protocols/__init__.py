"""The protocols the server speaks over its core: gradio ops and jobs, the legacy JSON routes,
the REST job routes and the browser UI."""
