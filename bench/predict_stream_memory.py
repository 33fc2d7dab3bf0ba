#!/usr/bin/env python
"""Memory of ``entitune predict`` on ever longer inputs: it streams (``PREDICT_CHUNK`` lines read,
predicted and written at a time), so its peak memory should be the same for 10k, 100k and 1M lines.

For each size, an input of that many lines is generated from the MIT Movie engtest sentences
(words joined by spaces, cycled): most lines plain text, every 10th a JSON record ``{"id": i,
"text": ...}``, every 50th blank. ``entitune predict`` runs on it in a subprocess (stdout to a file)
with a tiny random BERT (2 layers, hidden 32, a WordPiece vocab of the engtest words; built like
``tests/conftest.py`` ``tiny_bert``) saved as a tagger with ``Tagger.from_encoder(...).save``, so the
1M-line run takes minutes, not hours; the model's size does not change what is measured (whether
memory grows with the input). Recorded per size: the child's peak RSS (``os.wait4``'s
``ru_maxrss``: that child only), RSS polled from ``/proc`` every ``--poll`` seconds (max and the
samples), wall time, lines/s, and whether the output has exactly one line per input line, in order
(every record's ``id`` where it belongs). One torch thread unless ``--threads`` says otherwise.

  python bench/predict_stream_memory.py --out bench/results/predict_stream_memory.json [--sizes 10000 100000 1000000]
"""
from __future__ import annotations

import argparse
import json
import os
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from _common import REPO, data_root, machine  # noqa: E402  (puts src/ on the path)


def engtest_sentences() -> list[list[str]]:
    """The MIT Movie engtest sentences (tag<TAB>word lines), as word lists."""
    from entitune.data import read_bio

    return [list(s.words) for s in read_bio(data_root() / "mit_movie_eng" / "engtest.bio")]


def tiny_tagger(directory: Path, sentences: list[list[str]]) -> Path:
    """A random 2-layer BERT (hidden 32) with a WordPiece vocab of the engtest words, saved as a
    tagger of the engtest tags; as ``tests/conftest.py`` builds ``tiny_bert``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from entitune import Tagger
    from entitune.data import read_bio

    encoder = directory / "encoder"
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    words = sorted({w.lower() for s in sentences for w in s})
    vocab = list(dict.fromkeys(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *chars, *[f"##{c}" for c in chars]]))
    BertTokenizerFast(vocab={tok: i for i, tok in enumerate(vocab)}, do_lower_case=True).save_pretrained(str(encoder))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    BertModel(config).save_pretrained(str(encoder), safe_serialization=True)
    tags = sorted({t for s in read_bio(data_root() / "mit_movie_eng" / "engtest.bio") for t in s.tags})
    labels = ["O", *[t for t in tags if t != "O"]]
    model = directory / "tagger"
    Tagger.from_encoder(encoder, labels, max_length=64, stride=16).save(model)
    return model


def write_input(path: Path, lines: int, sentences: list[list[str]]) -> dict:
    """``lines`` lines: engtest sentences cycled; every 10th a JSON record with its 0-based index as
    ``id``, every 50th blank."""
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(lines):
            text = " ".join(sentences[i % len(sentences)])
            if i % 50 == 49:
                fh.write("\n")
            elif i % 10 == 9:
                fh.write(json.dumps({"id": i, "text": text}) + "\n")
            else:
                fh.write(text + "\n")
    return {"lines": lines, "bytes": path.stat().st_size}


def rss_kb(pid: int) -> int | None:
    """A process's resident set size now, from /proc (None once it is gone)."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def run_predict(model: Path, source: Path, out: Path, batch_size: int, threads: int | None, poll: float) -> dict:
    """``entitune predict`` on ``source`` in a child process: its peak RSS (wait4), polled RSS, wall time."""
    cmd = [sys.executable, "-m", "entitune", "predict", str(model), "--input", str(source),
           "--batch-size", str(batch_size), "--device", "cpu"]
    if threads:
        cmd += ["--threads", str(threads)]
    samples: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    with open(out, "w") as stdout, open(out.with_suffix(".err"), "w") as stderr:
        child = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
        status = None
        while status is None:
            pid, status_code, usage = os.wait4(child.pid, os.WNOHANG)
            if pid == child.pid:
                status = status_code
                break
            if (kb := rss_kb(child.pid)) is not None:
                samples.append((round(time.perf_counter() - t0, 2), kb))
            time.sleep(poll)
    wall = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"predict failed ({child.returncode}): {out.with_suffix('.err').read_text()[-2000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "polled_max_rss_mb": round(max(kb for _, kb in samples) / 1024, 1) if samples else None,
            "rss_samples_mb": [(t, round(kb / 1024, 1)) for t, kb in samples[:: max(1, len(samples) // 40)]]}


def check_output(out: Path, lines: int) -> dict:
    """One output line per input line, in order: the count, and every record's ``id`` at its index."""
    count = misplaced = 0
    with open(out, encoding="utf-8") as fh:
        for i, row in enumerate(fh):
            count += 1
            if i % 10 == 9 and i % 50 != 49 and json.loads(row).get("id") != i:
                misplaced += 1
    return {"output_lines": count, "records_out_of_place": misplaced, "ok": count == lines and misplaced == 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "predict_stream_memory.json"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of the child (0: torch's choice); 1 by default: the tiny model gains "
                             "nothing from more, and on a shared two-core machine they only contend (4,000 vs 750 lines/s)")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between /proc RSS samples")
    parser.add_argument("--workdir", default=None, help="where inputs and outputs go (default: a temporary directory)")
    args = parser.parse_args()

    from entitune.recipes.inference import PREDICT_CHUNK

    sentences = engtest_sentences()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        model = tiny_tagger(work, sentences)
        runs = []
        for size in args.sizes:
            source, out = work / f"in_{size}.txt", work / f"out_{size}.jsonl"
            info = write_input(source, size, sentences)
            result = {**info, **run_predict(model, source, out, args.batch_size, args.threads, args.poll)}
            result.update(check_output(out, size))
            result["lines_per_s"] = round(size / result["wall_s"], 1)
            runs.append(result)
            print(f"{size:>9,} lines: peak RSS {result['peak_rss_mb']} MB, {result['wall_s']} s "
                  f"({result['lines_per_s']:,.0f} lines/s), output lines {result['output_lines']:,} "
                  f"{'ok' if result['ok'] else 'MISMATCH'}", flush=True)
            source.unlink()
            out.unlink()
    peaks = [r["peak_rss_mb"] for r in runs]
    report = {
        "what": "peak RSS of `entitune predict` (a subprocess) on inputs of growing length; streaming keeps it flat",
        "model": "random 2-layer BERT, hidden 32, WordPiece vocab of MIT Movie engtest words; linear head, max_length 64",
        "input": "MIT Movie engtest sentences cycled; every 10th line a JSON record {id, text}, every 50th blank",
        "batch_size": args.batch_size, "threads": args.threads, "predict_chunk": PREDICT_CHUNK,
        "runs": runs,
        "peak_rss_growth_mb": round(max(peaks) - min(peaks), 1),
        "peak_rss_ratio_largest_to_smallest": round(peaks[-1] / peaks[0], 3),
        "all_outputs_ok": all(r["ok"] for r in runs),
        "machine": machine(),
        "recorded": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"peak RSS {' / '.join(f'{p} MB' for p in peaks)}; wrote {args.out}")


if __name__ == "__main__":
    main()
