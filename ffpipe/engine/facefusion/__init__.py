"""The ``facefusion`` engine: the catalog on a real FaceFusion 3.8 install.

:class:`FaceFusionEngine` drives a FaceFusion checkout through one persistent worker process that
runs in FaceFusion's own Python (``worker.py``, executed by that interpreter, never imported
here); :mod:`.arguments` plans every FaceFusion pass of a request, :mod:`.capabilities` says
what the engine offers, and :mod:`.table` says for every catalog parameter whether FaceFusion runs
it exactly, ffpipe emulates it around FaceFusion, or it is refused.
"""

from ffpipe.engine.facefusion.checkout import CheckoutError, open_checkout
from ffpipe.engine.facefusion.engine import FaceFusionEngine
from ffpipe.engine.facefusion.table import TABLE, parameter_statuses

__all__ = ["TABLE", "CheckoutError", "FaceFusionEngine", "open_checkout", "parameter_statuses"]
