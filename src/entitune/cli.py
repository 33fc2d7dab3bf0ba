"""The ``entitune`` command: one short function per verb, each parsing options and calling the library.

User errors (``EntituneError``) print one line to stderr and exit with status 2; no traceback.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import ConfigError, EntituneError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Fine-tune BERT-family encoders for named entity recognition, evaluate them, and predict.",
)

FormatOpt = Annotated[str, typer.Option(
    "--format",
    help="auto | conll (word ... TAG) | bio (TAG<TAB>word) | jsonl (tokens+tags or text+entities) | "
         "gmb (Sentence #,Word,POS,Tag CSV) | weibo (char+digit<TAB>tag) | klue | kmou",
)]


ThreadsOpt = Annotated[Optional[int], typer.Option(
    help="CPU threads: torch's intra-op threads; with an ONNX export, how many batches run at once "
         "(one thread each). Default: torch's choice")]
BackendOpt = Annotated[str, typer.Option(
    "--backend", help="auto | torch | onnx (a directory written by 'entitune export'); auto: onnx when model.onnx is there",
)]

_QUIET = False  # set on ranks other than 0 of a distributed run


def _err(message: str) -> None:
    if not _QUIET:
        typer.echo(message, err=True)


def _set_threads(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)


def _load(path: Path, fmt: str, word_column: int = 0, tag_column: int = -1):
    from .data import load_annotated

    data = load_annotated(path, fmt, word_column, tag_column)
    for notice in data.notices:
        _err(f"notice: {notice}")
    return data


class _Progress:
    """Training progress: a rich bar with loss and throughput on a terminal, epoch lines always."""

    def __init__(self, show_bar: bool) -> None:
        self.show_bar = show_bar
        self.bar = None
        self.task = None

    def on_start(self, total_steps: int, steps_per_epoch: int) -> None:
        _err(f"training: {total_steps} steps ({steps_per_epoch} per epoch)")
        if self.show_bar:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[progress.description]{task.description}"), BarColumn(),
                TextColumn("{task.completed}/{task.total}"), TextColumn("loss {task.fields[loss]:.4f}"),
                TextColumn("{task.fields[speed]:,.0f} sub-words/s"), TimeRemainingColumn(),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("train", total=total_steps, loss=0.0, speed=0.0)

    def on_step(self, step: int, loss: float, subwords_per_s: float, lr: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step, loss=loss, speed=subwords_per_s)

    def on_epoch(self, r) -> None:
        dev = f" | dev entity F1 {r.dev['entity']['f1']:.4f}" if r.dev else ""
        best = " (best)" if r.is_best and r.dev else ""
        msg = (f"epoch {r.epoch}: loss {r.train_loss:.4f} | {r.seconds:.1f} s | "
               f"{r.subwords_per_s:,.0f} sub-words/s | padding {r.positions / max(r.subwords, 1) - 1:.1%}{dev}{best}")
        if self.bar is not None:
            self.bar.console.print(msg)
        else:
            _err(msg)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


@app.command()
def train(
    train: Annotated[Path, typer.Option("--train", help="training file")],
    out: Annotated[Path, typer.Option("--out", help="directory for the trained model")],
    dev: Annotated[Optional[Path], typer.Option("--dev", help="dev file for model selection (default: a seeded split of --train)")] = None,
    test: Annotated[Optional[Path], typer.Option("--test", help="test file, scored after training")] = None,
    model: Annotated[Optional[Path], typer.Option("--model", help="local Hugging Face checkpoint directory (default: bundled MiniLM)")] = None,
    head: Annotated[str, typer.Option(help="linear | crf | bilstm-crf")] = "linear",
    features: Annotated[str, typer.Option(help="finetune | frozen-sum4 | frozen-concat4 (frozen: sum or concatenation of the encoder's last four layers; only the head trains)")] = "finetune",
    epochs: Annotated[int, typer.Option(help="passes over the training data")] = 3,
    lr: Annotated[float, typer.Option(help="peak learning rate of the encoder")] = 1e-4,
    head_lr: Annotated[Optional[float], typer.Option("--head-lr", help="peak learning rate of the head (default: 1e-3 linear, 1e-2 crf and bilstm-crf, as measured)")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="windows per training step (per micro-batch with --accumulate)")] = 32,
    batch_tokens: Annotated[Optional[int], typer.Option("--batch-tokens", help="instead of --batch-size: padded sub-words per batch (batches of similar length)")] = None,
    accumulate: Annotated[int, typer.Option(help="micro-batches per optimizer step: the same update as one batch of accumulate x batch-size")] = 1,
    precision: Annotated[str, typer.Option(help="fp32 | bf16 | fp16 (autocast; fp16 uses a gradient scaler)")] = "fp32",
    save_every: Annotated[int, typer.Option("--save-every", help="also write a resumable checkpoint every N optimizer steps (0: at epoch ends only)")] = 0,
    keep_checkpoints: Annotated[int, typer.Option("--keep-checkpoints", help="newest checkpoints kept in OUT/checkpoints")] = 2,
    resume: Annotated[bool, typer.Option("--resume", help="continue from the newest complete checkpoint in OUT/checkpoints (same settings)")] = False,
    device: Annotated[str, typer.Option(help="auto (a GPU if there is one) | cpu | cuda")] = "auto",
    nproc: Annotated[int, typer.Option("--nproc", help="launch this many data-parallel processes on this machine (torchrun); for several machines run torchrun yourself, see README")] = 1,
    dropout: Annotated[float, typer.Option(help="dropout before the head")] = 0.1,
    max_length: Annotated[int, typer.Option("--max-length", help="sub-tokens per window, special tokens included")] = 128,
    stride: Annotated[int, typer.Option(help="sub-tokens shared by overlapping windows of long sentences")] = 32,
    seed: Annotated[int, typer.Option(help="seed for initialisation, shuffling and the dev split")] = 42,
    warmup: Annotated[float, typer.Option(help="fraction of steps for linear warm-up")] = 0.1,
    weight_decay: Annotated[float, typer.Option("--weight-decay")] = 0.01,
    dev_fraction: Annotated[float, typer.Option("--dev-fraction", help="share of --train held out as dev when --dev is not given")] = 0.1,
    unconstrained: Annotated[bool, typer.Option("--unconstrained", help="decode by argmax, without BIO transition constraints")] = False,
    scheme: Annotated[str, typer.Option(help="tag scheme the model learns: IOB2 | BIOES (predictions are always given in IOB2)")] = "IOB2",
    format: FormatOpt = "auto",
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for torch (default: torch's choice)")] = None,
) -> None:
    """Fine-tune an encoder with a tagging head and save the best model (by dev entity F1)."""
    from .data import split_dev
    from .evaluate import evaluate
    from .metrics import format_report
    from .model import Tagger, label_set
    from .train import TrainConfig, fit

    from .heads import HEADS
    from .model import FEATURES, TRAIN_SCHEMES
    from .tags import from_iob2

    scheme = scheme.upper()
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        _launch(nproc)
        return
    if scheme not in TRAIN_SCHEMES:
        raise ConfigError(f"--scheme must be one of {', '.join(TRAIN_SCHEMES)}, got {scheme!r}")
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, got {device!r}")
    if head not in HEADS:
        raise ConfigError(f"--head must be one of {', '.join(HEADS)}, got {head!r}")
    if features not in FEATURES:
        raise ConfigError(f"--features must be one of {', '.join(FEATURES)}, got {features!r}")
    _set_threads(threads)
    from .distributed import barrier, init_from_env, shutdown

    world = init_from_env(device)
    if not world.is_main:  # one voice: only rank 0 prints, logs and saves
        global _QUIET
        _QUIET = True
    config = TrainConfig(epochs=epochs, lr=lr, head_lr=head_lr, batch_size=batch_size, warmup=warmup,
                         weight_decay=weight_decay, seed=seed, accumulate=accumulate, precision=precision,
                         batch_tokens=batch_tokens)
    train_data = _load(train, format)
    train_sents = train_data.sentences
    if dev is not None:
        dev_sents = _load(dev, format).sentences
        _err(f"data: train {len(train_sents)} sentences, dev {len(dev_sents)} from {dev}")
    else:
        if not 0.0 < dev_fraction < 1.0:
            raise ConfigError(f"--dev-fraction must be between 0 and 1, got {dev_fraction}")
        train_sents, dev_sents = split_dev(train_sents, dev_fraction, seed)
        _err(f"data: train {len(train_sents)} sentences, dev {len(dev_sents)} held out from --train "
             f"({dev_fraction:.0%}, seed {seed}); pass --dev FILE to use a dev file")
    test_sents = _load(test, format).sentences if test is not None else None
    if scheme != "IOB2":  # learn in another scheme; dev and test stay IOB2 (predictions come back in IOB2)
        from dataclasses import replace

        train_sents = [replace(s, tags=tuple(from_iob2(s.tags, scheme))) for s in train_sents]
    labels = label_set([t for s in train_sents for t in s.tags], scheme)
    unseen = sorted({t for s in [*dev_sents, *(test_sents or [])] for t in from_iob2(s.tags, scheme)} - set(labels))
    if unseen:
        _err(f"warning: tags in dev/test but not in train (never predicted): {', '.join(unseen)}")
    tagger = Tagger.from_encoder(model, labels, head=head, features=features, max_length=max_length, stride=stride,
                                 constrained=not unconstrained, seed=seed, scheme=scheme, dropout=dropout).to(world.device)
    _err(f"model: {tagger.settings.encoder} ({features}) + {tagger.settings.head} head, {len(labels)} {scheme} labels")
    from .checkpoint import checkpoints as list_checkpoints
    from .train import CheckpointOptions, JsonlLog, Listeners, TensorBoardLog, tensorboard_available

    out.mkdir(parents=True, exist_ok=True)
    ckpt_options = CheckpointOptions(out / "checkpoints", save_every, keep_checkpoints, resume)
    if resume:
        found = list_checkpoints(ckpt_options.directory)
        _err(f"resuming from {found[-1]}" if found else f"--resume: no checkpoint in {ckpt_options.directory}; starting from the beginning")
    if world.distributed:
        _err(f"distributed: {world.size} processes, device {world.device}, global batch {batch_size}")
    progress = _Progress(show_bar=sys.stderr.isatty() and world.is_main)
    logs = []
    if world.is_main:
        logs.append(JsonlLog(out / "log.jsonl", append=resume))
        if tensorboard_available():
            logs.append(TensorBoardLog(out / "tensorboard"))
            _err(f"logging to {out / 'log.jsonl'} and TensorBoard ({out / 'tensorboard'})")
    try:
        result = fit(tagger, train_sents, dev_sents, config, Listeners(progress, *logs), ckpt_options)
    finally:
        progress.close()
        for log_writer in logs:
            log_writer.close()
    if not world.is_main:
        barrier(world)
        shutdown()
        return
    tagger.save(out)
    log = {"config": asdict(config), "model": asdict(tagger.settings), "train": result.to_dict()}
    _err(f"saved best model (epoch {result.best_epoch}) to {out}")
    if test_sents is not None:
        report = evaluate(tagger, test_sents, config.eval_batch_size)
        log["test"] = report
        typer.echo(f"test: {test}")
        typer.echo(format_report(report))
    (out / "train_log.json").write_text(json.dumps(log, indent=2) + "\n")
    barrier(world)
    shutdown()


def _launch(nproc: int) -> None:
    """Run this same ``entitune train`` command under torchrun with ``nproc`` processes."""
    import subprocess

    args = [a for a in sys.argv[1:]]
    cleaned: list[str] = []
    skip = False
    for a in args:  # drop --nproc N / --nproc=N, keep everything else as given
        if skip:
            skip = False
            continue
        if a == "--nproc":
            skip = True
            continue
        if a.startswith("--nproc="):
            continue
        cleaned.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m", "entitune", *cleaned]
    _err(f"launching: {' '.join(cmd)}")
    code = subprocess.call(cmd)
    if code:
        raise SystemExit(code)


@app.command()
def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="trained model directory")],
    data: Annotated[Path, typer.Argument(help="annotated file to score")],
    json_out: Annotated[Optional[Path], typer.Option("--json", help="write the report as JSON here")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 64,
    format: FormatOpt = "auto",
    threads: ThreadsOpt = None,
    backend: BackendOpt = "auto",
) -> None:
    """Score a trained model on an annotated file: entity P/R/F1 per type and token micro F1."""
    from .evaluate import evaluate as run_evaluation
    from .metrics import format_report
    from .predict import load_model

    _set_threads(threads)
    tagger = load_model(model_dir, backend, threads)
    sentences = _load(data, format).sentences
    report = run_evaluation(tagger, sentences, batch_size)
    typer.echo(format_report(report))
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2) + "\n")


def _parse_input_line(line: str) -> str | list[str]:
    """A JSON list of strings is pre-split words; anything else is raw text."""
    stripped = line.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            return line
        if isinstance(value, list) and all(isinstance(w, str) for w in value):
            return value
    return line


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Argument(help="trained model directory")],
    input: Annotated[Optional[Path], typer.Option("--input", help="one text (or JSON list of words) per line; default stdin")] = None,
    output: Annotated[str, typer.Option("--output", help="jsonl | conll")] = "jsonl",
    batch_size: Annotated[int, typer.Option("--batch-size")] = 32,
    threads: ThreadsOpt = None,
    backend: BackendOpt = "auto",
) -> None:
    """Tag raw text or pre-split words, one input per line; JSONL (words, tags, entities) or CoNLL out."""
    from .io import write_conll
    from .predict import Predictor, load_model

    if output not in ("jsonl", "conll"):
        raise ConfigError(f"--output must be jsonl or conll, got {output!r}")
    _set_threads(threads)
    if input is not None:
        try:
            text = input.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{input}: cannot read ({exc})") from None
    else:
        text = sys.stdin.read()
    lines = [line for line in text.splitlines() if line.strip()]
    predictor = Predictor(load_model(model_dir, backend, threads), batch_size=batch_size)
    results = predictor.predict([_parse_input_line(line) for line in lines])
    if output == "conll":
        sys.stdout.write(write_conll((r.words, r.tags) for r in results))
    else:
        for r in results:
            sys.stdout.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")


def _build_predictor(model_dir: Path, backend: str = "auto", batch_size: int = 32, threads: int | None = None):
    """A predictor for ``model_dir`` (a trained model, or an ONNX export with ``--backend onnx`` or
    ``auto``) and the ``/info`` description of it."""
    from .onnx_backend import OnnxTagger
    from .predict import Predictor, load_model
    from .serve import model_info

    tagger = load_model(model_dir, backend, threads)
    used = "onnx" if isinstance(tagger, OnnxTagger) else "torch"
    return Predictor(tagger, batch_size=batch_size), model_info(tagger, str(model_dir), used)


@app.command()
def serve(
    model_dir: Annotated[Path, typer.Argument(help="trained model directory")],
    host: Annotated[str, typer.Option(help="address to listen on (0.0.0.0 for every interface)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    batch_size: Annotated[int, typer.Option("--batch-size", help="windows per forward pass")] = 32,
    threads: ThreadsOpt = None,
    max_texts: Annotated[int, typer.Option("--max-texts", help="inputs per request")] = 256,
    max_chars: Annotated[int, typer.Option("--max-chars", help="characters per text")] = 20_000,
    max_words: Annotated[int, typer.Option("--max-words", help="words per pre-split input")] = 5_000,
    max_body_bytes: Annotated[int, typer.Option("--max-body-bytes", help="bytes per request body")] = 1 << 20,
    max_batch_texts: Annotated[int, typer.Option("--max-batch-texts", help="inputs of concurrent requests combined into one prediction")] = 128,
    max_batch_wait_ms: Annotated[float, typer.Option("--max-batch-wait-ms", help="how long to wait for more requests before predicting")] = 5.0,
    workers: Annotated[int, typer.Option("--workers", help="micro-batches predicted at once, each on its own thread")] = 2,
    backend: BackendOpt = "auto",
) -> None:
    """Serve the model over HTTP: POST /predict, GET /health, GET /info, and a page at /."""
    from . import serve as serving

    try:
        limits = serving.ServeLimits(max_texts, max_chars, max_words, max_body_bytes, max_batch_texts, max_batch_wait_ms,
                                     workers)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    _set_threads(threads)
    predictor, info = _build_predictor(model_dir, backend, batch_size, threads)
    _err(f"serving {model_dir} on http://{host}:{port} (page at /, API docs at /docs)")
    serving.run(predictor, info=info, limits=limits, host=host, port=port, threads=threads)


@app.command()
def export(
    model_dir: Annotated[Path, typer.Argument(help="trained model directory")],
    onnx: Annotated[Path, typer.Option("--onnx", help="directory to write the ONNX export to")],
    quantize: Annotated[str, typer.Option("--quantize", help="none | int8 (dynamic int8 MatMuls)")] = "none",
    eval_file: Annotated[Optional[Path], typer.Option("--eval", help="annotated dev/test file to re-score the export on")] = None,
    max_drop: Annotated[float, typer.Option("--max-drop", help="largest entity-F1 drop accepted, in points")] = 0.5,
    accept_drop: Annotated[bool, typer.Option("--accept-drop", help="keep the export whatever its F1 drop")] = False,
    format: FormatOpt = "auto",
    threads: Annotated[Optional[int], typer.Option()] = None,
) -> None:
    """Export a model to ONNX (optionally int8), re-score it against the PyTorch model, keep it only if
    its entity F1 is within --max-drop points."""
    from .onnx_backend import export_and_rescore

    _set_threads(threads)
    sentences = _load(eval_file, format).sentences if eval_file is not None else None
    if sentences is None:
        _err("notice: no --eval file: the export is not re-scored")
    report = export_and_rescore(model_dir, onnx, sentences, quantize, max_drop, accept_drop)
    if sentences is not None:
        typer.echo(f"entity F1: PyTorch {report['torch_entity_f1']:.4f} | ONNX ({quantize}) {report['onnx_entity_f1']:.4f} "
                   f"| drop {report['drop_points']:.2f} points (max {max_drop})")
    typer.echo(f"wrote {onnx} ({report['onnx_bytes'] / 1e6:.1f} MB model.onnx; report in {onnx / 'export.json'})")


@app.command()
def doctor(
    data: Annotated[list[Path], typer.Argument(help="annotated files; the first is taken as train")],
    model: Annotated[Optional[Path], typer.Option("--model", help="checkpoint whose tokenizer is checked (default: bundled MiniLM)")] = None,
    max_length: Annotated[int, typer.Option("--max-length", help="sub-tokens per window, as in training")] = 128,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="write the report as JSON here")] = None,
    format: FormatOpt = "auto",
) -> None:
    """Check data before training: counts, entities per type, invalid tag sequences, sub-word
    lengths against --max-length, [UNK] share, labels missing from train, train/test duplicates."""
    from transformers import AutoConfig

    from .doctor import diagnose, format_doctor
    from .encode import WordEncoder
    from .model import _check_checkpoint, _quiet_transformers, default_encoder_dir, load_tokenizer

    _quiet_transformers()
    path = _check_checkpoint(model or default_encoder_dir())
    config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    try:
        encoder = WordEncoder(load_tokenizer(path, config.model_type), max_length, 0)
    except ValueError as exc:
        raise ConfigError(f"--max-length {max_length}: {exc}") from None
    report = diagnose(data, format, encoder)
    report["model"] = str(path)
    typer.echo(format_doctor(report))
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


@app.command()
def convert(
    data: Annotated[Path, typer.Argument(help="annotated file to convert")],
    out: Annotated[Path, typer.Option("--out", help="file to write")],
    to: Annotated[str, typer.Option("--to", help="conll | bio | jsonl (tokens+tags) | jsonl-spans (text+entities)")] = "conll",
    scheme: Annotated[str, typer.Option(help="tag scheme to write: IOB2 | IOB1 | BIOES | BILOU | IO")] = "IOB2",
    format: FormatOpt = "auto",
) -> None:
    """Convert an annotated file to another format and tag scheme (the input's scheme is detected)."""
    from dataclasses import replace

    from .io import write_sentences
    from .io.write import WRITE_FORMATS
    from .tags import SCHEMES, from_iob2

    scheme = scheme.upper()
    if scheme not in SCHEMES:
        raise ConfigError(f"--scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if to not in WRITE_FORMATS:
        raise ConfigError(f"--to must be one of {', '.join(WRITE_FORMATS)}, got {to!r}")
    if to == "jsonl-spans" and scheme != "IOB2":
        raise ConfigError("jsonl-spans holds character spans, not tags; leave --scheme at IOB2")
    sentences = [replace(s, tags=tuple(from_iob2(s.tags, scheme))) for s in _load(data, format).sentences]
    out.write_text(write_sentences(sentences, to), encoding="utf-8")
    _err(f"wrote {len(sentences)} sentences to {out} ({to}, {scheme})")


@app.command()
def split(
    data: Annotated[Path, typer.Argument(help="annotated file that ships as one piece (e.g. GMB)")],
    out: Annotated[Path, typer.Option("--out", help="directory for train/dev/test files")],
    ratios: Annotated[str, typer.Option(help="train,dev,test shares")] = "0.8,0.1,0.1",
    by: Annotated[str, typer.Option(help="sentence | document (CoNLL -DOCSTART- blocks)")] = "sentence",
    seed: Annotated[int, typer.Option(help="seed of the shuffle")] = 42,
    to: Annotated[str, typer.Option("--to", help="conll | bio | jsonl | jsonl-spans")] = "conll",
    format: FormatOpt = "auto",
) -> None:
    """Seeded train/dev/test split of one annotated file, written as three files."""
    from .data import split_three
    from .io import write_sentences
    from .io.write import WRITE_FORMATS

    if to not in WRITE_FORMATS:
        raise ConfigError(f"--to must be one of {', '.join(WRITE_FORMATS)}, got {to!r}")
    try:
        shares = [float(x) for x in ratios.split(",")]
    except ValueError:
        raise ConfigError(f"--ratios must be three numbers like 0.8,0.1,0.1, got {ratios!r}") from None
    parts = split_three(_load(data, format).sentences, shares, seed, by)
    out.mkdir(parents=True, exist_ok=True)
    suffix = {"conll": "conll", "bio": "bio", "jsonl": "jsonl", "jsonl-spans": "jsonl"}[to]
    for name, part in zip(("train", "dev", "test"), parts):
        (out / f"{name}.{suffix}").write_text(write_sentences(part, to), encoding="utf-8")
        _err(f"{name}: {len(part)} sentences -> {out / f'{name}.{suffix}'}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the app, turning user errors into one line and exit status 2."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app(args=argv, standalone_mode=True)
    except EntituneError as exc:
        _err(f"error: {exc}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
