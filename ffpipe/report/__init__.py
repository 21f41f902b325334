"""The visual report of a run: one HTML page with the DAG, every step and matrix contact sheets.

Built from a run record (``<workspace>/runs/<id>/run.json``) and the cache objects it names; the
page, its thumbnails and copies of the step outputs go into one folder that opens as it is, from
a CI artifact say (relative links only, nothing fetched from the network).
"""

from ffpipe.report.page import write_report
from ffpipe.report.runs import RunNotFound, find_run

__all__ = ["RunNotFound", "find_run", "write_report"]
