"""entitune's HTTP service as a Ray Serve deployment: replicas on any number of machines, each one
the service ``entitune serve`` runs (the same app: ``/predict``, ``/health``, ``/info``, the page,
the same request limits and micro-batching), behind Ray Serve's proxy and load balancing.

    pip install "entitune[train]" "ray[serve]"
    python examples/ray_serve.py runs/movie --replicas 2 --port 8000              # a local cluster
    python examples/ray_serve.py runs/movie --replicas 8 --address auto           # a running cluster
    curl -s localhost:8000/predict -H 'Content-Type: application/json' -d '{"texts": ["drew barrymore films"]}'

- Each replica loads the model once (``entitune.load``) and builds entitune's own app around it
  (``entitune.serve.create_app``); Ray Serve hands each HTTP request to a replica, which runs it
  through that app as an ASGI call. So answers, errors and limits are exactly ``entitune serve``'s,
  and requests that reach one replica together are batched by its micro-batcher.
- Sizing: ``--replicas`` replicas of ``--cpus-per-replica`` CPUs each (default 1); Ray places them
  where CPUs are free, on any node. An ONNX export (``entitune export``) needs no torch on the nodes
  (``entitune[runtime]``).
- On several machines: ``ray start --head`` on one, ``ray start --address HEAD:6379`` on the others,
  entitune installed and the model directory at the same path on every node (or on shared storage),
  then run this on the head with ``--address auto``; the proxy listens on every node that runs one.

``tests/e2e/test_ray_serve.py`` runs it on a local cluster and compares the answers with
``entitune predict``'s.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time

from ray import serve
from starlette.requests import Request
from starlette.responses import Response


@serve.deployment
class EntituneReplica:
    """One replica: a loaded model inside entitune's app, called per request as an ASGI app."""

    def __init__(self, model_dir: str, batch_size: int = 32, limits: dict | None = None, threads: int | None = None):
        import entitune
        from entitune.backends import backend_name
        from entitune.serve import ServeLimits, create_app, model_info

        predictor = entitune.load(model_dir, batch_size=batch_size, threads=threads)
        info = model_info(predictor.scorer, model_dir, backend_name(predictor.scorer))
        self.app = create_app(predictor, info=info, limits=ServeLimits(**(limits or {})), threads=threads)
        self.started = False

    async def __call__(self, request: Request) -> Response:
        if not self.started:  # the app's lifespan: its service (micro-batcher, counting thread) runs on this replica's loop
            await self.app.state.service.start()
            self.started = True
        body = await request.body()
        sent: list[dict] = []
        unread = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict:
            if unread:
                return unread.pop()
            # after the body the app only listens for a disconnect: Ray Serve cancels this call when the
            # client goes, which cancels the request's work as a disconnect would
            await asyncio.Event().wait()

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {**request.scope, "root_path": ""}
        await self.app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start.get("headers", [])
                   if k.lower() != b"content-length"}
        return Response(content=content, status_code=start["status"], headers=headers)


def build(model_dir: str, *, replicas: int = 1, cpus_per_replica: float = 1, batch_size: int = 32,
          limits: dict | None = None, threads: int | None = None):
    """The Ray Serve application: ``replicas`` copies of ``EntituneReplica`` for ``model_dir``
    (``serve.run(build(...))``). ``limits``: ``ServeLimits`` fields (``max_texts``...)."""
    if __name__ != "__main__":  # imported (a test, a notebook): replicas get this module by value, not by import
        import ray

        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return EntituneReplica.options(num_replicas=replicas, ray_actor_options={"num_cpus": cpus_per_replica}).bind(
        str(model_dir), batch_size, limits, threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--cpus-per-replica", type=float, default=1)
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward pass")
    parser.add_argument("--threads", type=int, default=None, help="threads per replica")
    parser.add_argument("--host", default="127.0.0.1", help="where the proxy listens (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--address", default=None, help="a running cluster ('auto'); default: start a local one")
    args = parser.parse_args()
    import ray

    ray.init(address=args.address)
    serve.start(http_options={"host": args.host, "port": args.port})
    serve.run(build(args.model_dir, replicas=args.replicas, cpus_per_replica=args.cpus_per_replica,
                    batch_size=args.batch_size, threads=args.threads), route_prefix="/")
    print(f"serving {args.model_dir} on http://{args.host}:{args.port} ({args.replicas} replica(s)); Ctrl-C stops",
          file=sys.stderr)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.shutdown()


if __name__ == "__main__":
    main()
