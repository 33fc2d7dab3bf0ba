"""Training on several machines, played on one: ``torchrun --nnodes 2`` with two agents of one
process each (gloo on the CPU) runs ``python -m entitune train --config`` as the multi-node guide
says. Each "node" works in a folder of its own and the config's ``out`` is relative, so the nodes
share no output directory, as machines without a shared file system would not.

- With c10d rendezvous on 127.0.0.1: the run gives the very model that ``--nproc 2`` gives on one
  machine (the same weights bit for bit, the same losses and scores), and only rank 0's node
  writes anything (the other folder stays empty: no lock, log or checkpoint of rank 1 anywhere).
- With static rendezvous (``--node-rank``, as a plain SSH launch): a run cut off after a checkpoint
  resumes with ``--resume`` although only rank 0's node has the checkpoints (rank 0 reads them and
  sends them on), to the weights of the run that was never cut.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.data import TINY_SENTENCES, write_bio
from tests.helpers.net import free_port

TIMEOUT = 300  # a launch takes well under a minute; a mismatch between ranks hangs


@pytest.fixture(scope="module")
def config(tmp_path_factory, tiny_bert) -> Path:
    """A run's options as a file: absolute data and encoder paths (every node has them), a relative
    ``out`` (each node's own folder), no dropout, a checkpoint every 2 of the 12 steps, all kept."""
    from transformers import BertConfig, BertModel

    d = tmp_path_factory.mktemp("multinode")
    encoder = d / "encoder"  # the tiny BERT without dropout: the runs draw no random masks
    bert_config = BertConfig.from_pretrained(str(tiny_bert))
    bert_config.hidden_dropout_prob = bert_config.attention_probs_dropout_prob = 0.0
    BertModel.from_pretrained(str(tiny_bert), config=bert_config).save_pretrained(str(encoder), safe_serialization=True)
    for name in os.listdir(tiny_bert):
        if name.startswith(("tokenizer", "vocab", "special")):
            shutil.copy(tiny_bert / name, encoder / name)
    train = write_bio(d / "train.bio", TINY_SENTENCES * 6)
    test = write_bio(d / "test.bio", TINY_SENTENCES)
    path = d / "run.toml"
    path.write_text(f'train = "{train}"\ndev = "{test}"\ntest = "{test}"\nmodel = "{encoder}"\nout = "run"\n'
                    'epochs = 2\nbatch_size = 6\nmax_length = 16\nstride = 4\nlr = 1e-3\ndropout = 0.0\n'
                    'device = "cpu"\nthreads = 1\nprecision = "fp32"\nsave_every = 2\nkeep_checkpoints = 20\n'
                    'keep_checkpoints_after = true\n')
    return path


def env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
            "GLOO_SOCKET_IFNAME": "lo"}


def train_nproc(config: Path, cwd: Path) -> Path:
    """``entitune train --config`` with ``--nproc 2`` on one machine, in ``cwd``."""
    cwd.mkdir()
    r = subprocess.run([sys.executable, "-m", "entitune", "train", "--config", str(config), "--nproc", "2"], cwd=cwd,
                       capture_output=True, text=True, env=env(), timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr[-3000:]
    return cwd / "run"


def two_nodes(config: Path, folders: list[Path], rendezvous: list[list[str]], *extra: str) -> None:
    """Two torchrun agents, one process each, ``folders[i]`` the working folder of node i."""
    procs = []
    for folder, how in zip(folders, rendezvous):
        folder.mkdir(exist_ok=True)
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1", *how,
               "-m", "entitune", "train", "--config", str(config), *extra]
        procs.append(subprocess.Popen(cmd, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      env=env(), start_new_session=True))
    outputs = []
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=TIMEOUT)[0])
        except subprocess.TimeoutExpired:
            for p in procs:  # the agent and the training process it started
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
            raise AssertionError("a node did not finish (ranks out of step?)") from None
    assert all(p.returncode == 0 for p in procs), "\n----\n".join(o[-3000:] for o in outputs)


def c10d(port: int) -> list[str]:
    return ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "entitune-test"]


def static(port: int, node: int) -> list[str]:
    return ["--node-rank", str(node), "--master-addr", "127.0.0.1", "--master-port", str(port)]


def weights(run: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(run / "model.safetensors"))


def losses(run: Path) -> list[float]:
    return [e["loss"] for e in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if e["event"] == "step"]


def assert_same_model(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    different = [k for k in wa if not bool((wa[k] == wb[k]).all())]
    assert not different, f"weights differ: {different[:5]}"


@pytest.fixture(scope="module")
def runs(config, tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("multinode-runs")
    one_machine = train_nproc(config, d / "one-machine")
    nodes = [d / "node-a", d / "node-b"]
    two_nodes(config, nodes, [c10d(port := free_port()), c10d(port)])
    return {"one_machine": one_machine, "nodes": nodes, "d": d}


def test_two_nodes_train_the_model_that_nproc_2_trains(runs):
    """The same weights bit for bit, the same per-step losses, the same dev and test scores."""
    (run,) = [n / "run" for n in runs["nodes"] if (n / "run" / "train_log.json").is_file()]
    assert_same_model(run, runs["one_machine"])
    assert losses(run) == losses(runs["one_machine"]) and len(losses(run)) == 12
    logs = [json.loads((r / "train_log.json").read_text()) for r in (run, runs["one_machine"])]
    assert logs[0]["train"]["best_score"] == logs[1]["train"]["best_score"]
    assert logs[0]["test"]["entity"]["f1"] == logs[1]["test"]["entity"]["f1"]


def test_only_rank_0_writes(runs):
    """One node's folder holds the run; the other's nothing at all (rank 1 takes no lock, writes no
    log, no checkpoint, no model)."""
    contents = {n.name: sorted(p.name for p in n.iterdir()) for n in runs["nodes"]}
    assert sorted(contents.values()) == [[], ["run"]], contents


def test_a_cut_run_resumes_on_two_nodes_from_rank_0s_checkpoints(runs, config):
    """Only rank 0's node has the checkpoints (the run cut after step 6 of 12: later checkpoints and
    the final files gone); ``--resume`` on two nodes (static rendezvous, rank 0 on that node) ends
    with the weights of the run that was never cut, and the other node still has nothing."""
    (first,) = [n for n in runs["nodes"] if (n / "run" / "train_log.json").is_file()]
    d = runs["d"]
    nodes = [d / "resume-a", d / "resume-b"]
    nodes[0].mkdir()
    shutil.copytree(first / "run" / "checkpoints", nodes[0] / "run" / "checkpoints")
    kept = sorted(p.name for p in (nodes[0] / "run" / "checkpoints").iterdir())
    assert kept == [f"step-{s:08d}.pt" for s in (2, 4, 6, 8, 10, 12)]
    for name in kept[3:]:
        (nodes[0] / "run" / "checkpoints" / name).unlink()
    port = free_port()
    two_nodes(config, nodes, [static(port, 0), static(port, 1)], "--resume")
    assert_same_model(nodes[0] / "run", first / "run")
    assert losses(nodes[0] / "run") == losses(first / "run")[6:]  # steps 7 to 12, as the first run took them
    assert list(nodes[1].iterdir()) == []
