"""Batch prediction with entitune inside Ray Data: one predictor per worker, loaded once, answering
batches of lines; the same answers, in the same order, as ``entitune predict`` in one process.

    pip install "entitune[ray]"
    python examples/ray_predict.py runs/movie answers.jsonl part-0.jsonl part-1.jsonl
    python examples/ray_predict.py runs/movie answers.jsonl in.jsonl --address auto   # a running cluster

- Sizing: by default as many actors as the cluster's CPUs allow with one CPU left for reading
  (``actor_pool``: one actor on a 2-CPU machine), said in one line on stderr; ``--workers N`` asks
  for fewer, never for more than fit. On a multi-node cluster, start Ray on each node (``ray start
  --head`` on one, ``ray start --address HEAD:6379`` on the others), install entitune and the model
  directory at the same path on every node (or put it on shared storage), give input paths every
  node can read, and run this with ``--address auto`` on the head node.

- Reading: each input file is one task (``read_binary_files``) split into lines by entitune's own
  reader (``iter_stream_lines``: LF only, CRLF and a BOM stripped, the same size and line bounds),
  not Ray's ``read_text`` (``str.splitlines`` also splits at U+2028, U+0085 and form feeds), so line
  numbers and errors (``path:line: why``) are those of ``entitune predict``. Give a large input as
  several files for parallel reading.
- Predicting: ``EntituneWorker`` is a callable class run by ``map_batches`` on a pool of actors:
  ``entitune.load`` once in its constructor, then ``entitune.recipes.answer_lines`` per batch (what
  ``predict_lines`` calls), so text lines, JSON word lists and JSON records (``id``... passed
  through) are answered alike. On GPUs give ``gpus_per_worker=1`` (or 0.5 to share one) and
  ``device="cuda"``: an actor without a GPU reserved sees none.
- Writing: order is preserved (``preserve_order``) and the driver writes one JSONL file as it comes.

``tests/e2e/test_ray_predict.py`` runs this on a local two-CPU cluster and compares it with
``predict_lines``.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from itertools import groupby

import numpy as np
import ray


class EntituneWorker:
    """A Ray Data callable class: loads the model once per worker (actor), then answers batches of
    ``{"path", "line", "text"}`` rows with one JSON ``answer`` string each."""

    def __init__(self, model_dir: str, batch_size: int = 32, device: str = "auto", all_scores: bool = False) -> None:
        import entitune

        self.predictor = entitune.load(model_dir, batch_size=batch_size, device=device)
        self.all_scores = all_scores

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from entitune.recipes import answer_lines

        rows = list(zip(batch["path"], batch["line"], batch["text"]))
        answers = []
        for path, group in groupby(rows, key=lambda row: row[0]):  # one file at a time: errors name it
            _, numbers, texts = zip(*group)
            answers += answer_lines(self.predictor, list(texts), all_scores=self.all_scores, where=str(path),
                                    numbers=[int(n) for n in numbers])
        return {"answer": np.array([json.dumps(a, ensure_ascii=False) for a in answers], dtype=object)}


def file_lines(row: dict) -> list[dict]:
    """The lines of one file read by ``read_binary_files(include_paths=True)``, split as entitune reads."""
    from entitune.data import iter_stream_lines

    path = row["path"]
    return [{"path": path, "line": n, "text": text} for n, text in iter_stream_lines(io.BytesIO(row["bytes"]), path)]


def actor_pool(workers: int | None, cpus_per_worker: float, cpus: float) -> tuple[int, float, str]:
    """How many actors of how many CPUs each to ask a cluster of ``cpus`` CPUs for, leaving one CPU
    (half of a one-CPU cluster) to the read tasks, and a line that says so: ``workers`` None fills
    the rest; more than fit are cut to what fits (Ray would wait forever for the others).

    >>> actor_pool(None, 1, 2)[:2], actor_pool(None, 1, 16)[:2], actor_pool(8, 1, 4)[:2], actor_pool(None, 1, 1)[:2]
    ((1, 1), (15, 1), (3, 1), (1, 0.5))
    """
    free = cpus - 1 if cpus >= 2 else cpus / 2
    per = min(cpus_per_worker, free)
    fit = max(1, int(free // per))
    chosen = fit if workers is None else min(workers, fit)
    why = (f"ray: {chosen} actor(s) of {per:g} CPU each on a cluster of {cpus:g} CPUs "
           f"({cpus - chosen * per:g} left for reading the input)")
    if workers is not None and workers > fit:
        why += f"; {workers} asked, {fit} fit"
    return chosen, per, why


def predict_files(model_dir: str, inputs: list[str], output: str, *, workers: int | None = None, batch_size: int = 32,
                  lines_per_batch: int = 256, device: str = "auto", cpus_per_worker: float = 1,
                  gpus_per_worker: float = 0, all_scores: bool = False) -> int:
    """Answer every line of ``inputs`` (in order) into the JSONL file ``output`` with ``workers``
    actors (default: as many as the cluster's CPUs allow, ``actor_pool``), each holding one
    predictor; returns how many lines were answered. ``ray.init`` first.

    A CPU is left beside the actors' for the read tasks: actors holding every CPU wait forever for
    lines no task can read."""
    workers, cpus_per_worker, why = actor_pool(workers, cpus_per_worker, ray.cluster_resources().get("CPU", 1))
    print(why, file=sys.stderr, flush=True)
    if __name__ != "__main__":  # imported (a test, a notebook): workers get this module by value, not by import
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    lines = ray.data.read_binary_files(inputs, include_paths=True).flat_map(file_lines)
    answers = lines.map_batches(
        EntituneWorker, batch_size=lines_per_batch, batch_format="numpy",
        fn_constructor_kwargs={"model_dir": str(model_dir), "batch_size": batch_size, "device": device,
                               "all_scores": all_scores},
        compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=cpus_per_worker, num_gpus=gpus_per_worker,
    )
    written = 0
    with open(output, "w", encoding="utf-8") as out:
        for batch in answers.iter_batches(batch_size=1024, batch_format="numpy"):
            out.writelines(answer + "\n" for answer in batch["answer"])
            written += len(batch["answer"])
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("output", help="JSONL file to write")
    parser.add_argument("inputs", nargs="+", help="files with one input per line (text, JSON words or JSON records)")
    parser.add_argument("--workers", type=int, default=None,
                        help="actors, each with its own copy of the model (default: as many as the CPUs allow)")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward pass")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--cpus-per-worker", type=float, default=1)
    parser.add_argument("--gpus-per-worker", type=float, default=0)
    parser.add_argument("--address", default=None, help="a running cluster ('auto'); default: start a local one")
    parser.add_argument("--local-cpus", type=int, default=None, help="CPUs of the local cluster (default: all)")
    args = parser.parse_args()
    if args.address is None:
        ray.init(num_cpus=args.local_cpus, include_dashboard=False)
    else:
        ray.init(address=args.address)
    n = predict_files(args.model_dir, args.inputs, args.output, workers=args.workers, batch_size=args.batch_size,
                      device=args.device, cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker)
    print(f"wrote {n} answers to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
