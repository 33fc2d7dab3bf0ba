"""Mutation audit: do the contract tests catch the bugs they are written against?

Run from the repository root:

    .venv/bin/python tests/mutations/inject.py            # all mutations, writes bench/results/mutation_audit.json
    .venv/bin/python tests/mutations/inject.py tie-rule   # only the named mutation(s)

For each mutation: copy ``src/`` to a temporary directory, apply one literal search/replace to the
real source text there (the search text must occur exactly once, so the script fails loudly when the
code drifts), run the mutation's test with ``PYTHONPATH`` pointing at the mutated copy, and record
whether the test failed (caught) or passed (not caught). First the same tests run on an unmutated
copy: they must pass there, or "caught" would mean nothing. Exit status 0 only when every mutation
is caught. Sequential, one pytest process at a time (about 3 minutes on 2 busy cores).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "results" / "mutation_audit.json"

T_TRAIN = "tests/unit/train/test_contracts.py"
T_MERGE = "tests/unit/encode/test_merge_contracts.py"
T_SERVE = "tests/unit/serve/test_contracts.py"

# (name, behaviour, file under src/entitune, search, replace, test node id)
MUTATIONS = [
    ("best-state-shares-memory", "keep the best dev epoch's weights", "train/loop.py",
     "v.detach().clone() for k, v in model.state_dict()", "v.detach() for k, v in model.state_dict()",
     f"{T_TRAIN}::test_best_dev_epoch_weights_are_kept_not_the_last"),
    ("epoch-end-checkpoint-off-by-one", "exact resume", "train/loop.py",
     "save(epoch + 1, 0, (0.0, 0, 0))", "save(epoch, 0, (0.0, 0, 0))",
     f"{T_TRAIN}::test_resume_from_epoch_end_and_mid_epoch_gives_the_uninterrupted_final_weights"),
    ("no-decay-after-warmup", "linear decay after warm-up", "train/optim.py",
     "return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))", "return 1.0",
     f"{T_TRAIN}::test_learning_rate_warms_up_then_decays_linearly_to_zero"),
    ("decay-on-bias-layernorm", "no weight decay on biases / LayerNorm", "train/optim.py",
     '"weight_decay": 0.0 if no_decay else config.weight_decay,', '"weight_decay": config.weight_decay,',
     f"{T_TRAIN}::test_no_weight_decay_on_biases_and_layer_norm"),
    ("context-left-only", "window merge picks the window with most context on both sides", "encode/windows.py",
     "min(st - body_start, body_end - st - len(pieces[start + k]))", "(st - body_start)",
     f"{T_MERGE}::test_each_word_takes_the_window_with_most_context_on_both_sides"),
    ("tie-rule", "window merge tie rule (earlier window)", "encode/merge.py",
     "if ctx > best_context[w.sentence][word]:", "if ctx >= best_context[w.sentence][word]:",
     f"{T_MERGE}::test_merge_ties_go_to_the_earlier_window"),
    ("entity-score-first-word", "entity score = mean of its words' probabilities", "predict/predictor.py",
     "score = sum(tagged.scores[span.start : span.end]) / (span.end - span.start)", "score = tagged.scores[span.start]",
     "tests/unit/predict/test_entity_score_contract.py::test_entity_score_is_the_mean_of_its_words_probabilities"),
    ("batcher-single-request", "micro-batching combines concurrent requests", "serve/batching.py",
     "while texts < self._max_batch and cost < self._max_subwords:", "while False:",
     f"{T_SERVE}::test_micro_batcher_combines_concurrent_requests_into_one_predict_call"),
    ("batcher-first-come", "cheap requests pass expensive ones queued earlier", "serve/batching.py",
     "_Piece(now + done / self.rate, self._seq,", "_Piece(now, self._seq,",
     "tests/unit/serve/test_admission.py::"
     "test_a_cheap_request_is_answered_before_an_expensive_one_queued_earlier_and_the_expensive_one_is_split"),
    ("batcher-keeps-overdue-work", "a deadline drops the work not yet started", "serve/batching.py",
     "if not job.future.done() or job.future.cancelled():\n                self._drop(job)",
     "if not job.future.done() or job.future.cancelled():\n                pass",
     "tests/unit/serve/test_admission.py::test_a_deadline_drops_the_work_not_yet_started"),
    ("max-texts-exclusive", "--max-texts boundary", "serve/limits.py",
     "if len(inputs) > limits.max_texts:", "if len(inputs) >= limits.max_texts:",
     f"{T_SERVE}::test_max_texts_is_inclusive"),
    ("max-chars-no-spaces", "--max-chars for pre-split words", "serve/limits.py",
     "else sum(len(w) for w in item) + max(len(item) - 1, 0)", "else sum(len(w) for w in item)",
     f"{T_SERVE}::test_max_chars_of_pre_split_words_counts_the_joining_spaces"),
    ("unk-share-zero", "doctor's [UNK] share", "curate/doctor.py",
     '"share": round(unk / max(1, words), 4),', '"share": 0.0,',
     "tests/unit/curate/test_doctor_contracts.py::test_doctor_reports_the_unk_share"),
]


def copy_src(dest: Path) -> Path:
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest / "src"


def run_tests(src: Path, tests: list[str]) -> tuple[bool, float, str]:
    """(passed, seconds, output tail) of pytest on ``tests`` importing ``entitune`` from ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    probe = subprocess.run([sys.executable, "-c", "import entitune; print(entitune.__file__)"],
                           cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    if not probe.stdout.strip().startswith(str(src)):  # the mutated copy must be what the tests import
        raise SystemExit(f"entitune imported from {probe.stdout.strip()}, not from the mutated copy {src}")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    return proc.returncode == 0, time.perf_counter() - t0, (proc.stdout + proc.stderr)[-1500:]


def main(selected: list[str]) -> int:
    mutations = [m for m in MUTATIONS if not selected or m[0] in selected]
    if selected and len(mutations) != len(selected):
        raise SystemExit(f"unknown mutation(s); known: {[m[0] for m in MUTATIONS]}")
    with tempfile.TemporaryDirectory(prefix="entitune-mut-") as tmp:
        # the search texts must be in today's source, exactly once each
        for name, _, rel, search, _, _ in mutations:
            count = (ROOT / "src" / "entitune" / rel).read_text().count(search)
            if count != 1:
                raise SystemExit(f"{name}: search text found {count} times in src/entitune/{rel} (expected 1): {search!r}")
        baseline_src = copy_src(Path(tmp) / "baseline")
        ok, secs, tail = run_tests(baseline_src, sorted({m[5] for m in mutations}))
        print(f"baseline (unmutated): {'pass' if ok else 'FAIL'} in {secs:.1f}s", flush=True)
        if not ok:
            print(tail)
            raise SystemExit("the contract tests fail on the unmutated source; fix them first")
        rows = []
        for name, behaviour, rel, search, replace, test in mutations:
            src = copy_src(Path(tmp) / name)
            path = src / "entitune" / rel
            path.write_text(path.read_text().replace(search, replace, 1))
            passed, secs, tail = run_tests(src, [test])
            caught = not passed
            why = next((line for line in tail.splitlines() if line.startswith(("FAILED", "ERROR"))), "")
            print(f"{'caught    ' if caught else 'NOT CAUGHT'} {name:34s} {secs:6.1f}s  {test.split('::')[1]}", flush=True)
            if why:
                print(f"           {why[:160]}", flush=True)
            rows.append({"mutation": name, "behaviour": behaviour, "file": f"src/entitune/{rel}", "search": search,
                         "replace": replace, "test": test, "caught": caught, "failure": why,
                         "seconds": round(secs, 1)})
            shutil.rmtree(src.parent)
    if not selected:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps({"baseline_passed": True, "caught": sum(r["caught"] for r in rows),
                                   "total": len(rows), "mutations": rows}, indent=2) + "\n")
        print(f"wrote {OUT.relative_to(ROOT)}")
    print(f"{sum(r['caught'] for r in rows)}/{len(rows)} caught")
    return 0 if all(r["caught"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
