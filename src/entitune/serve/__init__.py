"""The HTTP service: the app (``app``), request/response models (``schemas``), micro-batching
(``batching``), what a request costs (``costs``), limits and the body-size guard (``limits``), an
in-process server (``background``), several server processes on one port (``processes``) and the page
(``static/index.html``)."""
from .app import PredictService, SupportsPredict, create_app, listen, model_info, page_html, run
from .background import BackgroundServer
from .batching import Busy, MicroBatcher, Overdue
from .costs import SubwordCounter
from .limits import RequestLimitError, ServeLimits, check_limits
from .processes import WorkerFailed, supervise, threads_per_process

__all__ = ["BackgroundServer", "Busy", "MicroBatcher", "Overdue", "PredictService", "RequestLimitError", "ServeLimits",
           "SubwordCounter", "SupportsPredict", "WorkerFailed", "check_limits", "create_app", "listen", "model_info",
           "page_html", "run", "supervise", "threads_per_process"]
