"""The options of the verbs that use a trained model: ``evaluate``, ``predict``, ``serve`` (with the
service's request limits, ``ServeLimits``), ``export``, ``package`` and ``report``. What the first
three share (which model, how it runs) is declared once in ``ScorerOptions``; the options of reading
a labelled file once in ``ReadOptions`` (``train`` takes them too). Imports no torch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .choices import BACKENDS, DEVICES, INFERENCE_PRECISIONS, OUTPUTS, QUANTIZATIONS
from .declare import Options, option
from .reading import ReadOptions

def model_dir_option(help: str = "trained model directory, ONNX export or packed .tar.gz") -> Any:
    """The model a verb uses, as its first argument."""
    return option(help=help, group="input", positional=True, metavar="MODEL")


def json_option(what: str) -> Any:
    """``--json FILE``: a verb's report as JSON."""
    return option(None, f"write {what} as JSON here", group="output", flag="--json", metavar="FILE")


@dataclass(frozen=True, kw_only=True)
class ScorerOptions(Options):
    """Which model scores inputs and how it runs (``evaluate``, ``predict``, ``serve``)."""

    model: str = model_dir_option()
    batch_size: int = option(32, "windows per forward pass", group="run", low=1, high=1_000_000)
    threads: int | None = option(None, "CPU threads: torch's intra-op threads; with an ONNX export, how many batches "
                                 "run at once (one thread each)", group="run", low=1, high=4096,
                                 default_help="torch's choice")
    backend: str = option("auto", "auto | torch | onnx (a directory written by 'entitune export'); auto: onnx when "
                          "model.onnx is there", group="run", choices=BACKENDS)
    device: str = option("auto", "auto (a CUDA GPU if torch sees one, else the CPU) | cpu | cuda (an error without a "
                         "GPU); an ONNX export runs on the CPU", group="run", choices=DEVICES)
    precision: str = option("auto", "auto (bf16 autocast on a GPU with bf16 tensor cores or an AMX CPU whose timed "
                            "probe agrees, else fp32) | fp32 | bf16; PyTorch models only (an ONNX export keeps its own)",
                            group="run", choices=INFERENCE_PRECISIONS)


#: how a labelled file is scored unless asked otherwise: in fp32, this many windows a batch, as the
#: test score of a training run (``train.TrainConfig.eval_batch_size``) and ``tune`` score it
SCORING_PRECISION, SCORING_BATCH = "fp32", 64
SCORING_RULE = ("A labelled file is scored in fp32, 64 windows a batch (as a training run scores its test file), so "
                "evaluate, train_log.json, the model card, tune and Python's evaluate give the same number on any "
                "machine")


@dataclass(frozen=True, kw_only=True)
class EvaluateConfig(ScorerOptions, ReadOptions):
    """``entitune evaluate``: score a model on a labelled file."""

    batch_size: int = option(SCORING_BATCH, "windows per forward pass", group="run", low=1, high=1_000_000)
    precision: str = option(SCORING_PRECISION, f"fp32 | bf16 | auto (bf16 where the hardware runs it fast). "
                            f"{SCORING_RULE}; auto or bf16 trade that for speed", group="run",
                            choices=INFERENCE_PRECISIONS)

    data: str = option(help="annotated file to score", group="input", positional=True, input_file=True,
                       metavar="DATA")
    json_out: str | None = json_option("the report")
    errors_out: str | None = option(None, "tagger: write every sentence with an error here (JSONL: gold and "
                                    "predicted spans, each error classified); the analysis and the type confusion "
                                    "matrix also go under 'errors' in --json", group="output", flag="--errors",
                                    metavar="FILE")


def _checked_shard(value: Any) -> str:
    """``shard`` as written, once ``parse_shard`` accepts it."""
    parse_shard(value)
    return value


@dataclass(frozen=True, kw_only=True)
class PredictConfig(ScorerOptions):
    """``entitune predict``: answer inputs, one a line."""

    input: str | None = option(None, "one input per line: text, a JSON list of words, or a JSON object with 'text' "
                               "(or 'tokens') whose other fields (id...) are copied to its answer; - or none: stdin",
                               group="input", input_file=True, metavar="FILE")
    output: str = option("jsonl", "jsonl | conll (taggers)", group="output", choices=OUTPUTS)
    all_scores: bool = option(False, "classifiers: every label's probability in 'scores'", group="output",
                              negative="--best-score")
    shard: str | None = option(None, "I/N: answer only the lines whose 0-based index is I modulo N (round robin), "
                               "each answer with its input line number as 'line', so N jobs split a file and their "
                               "outputs merge by 'line' (jsonl only)", group="input", parse=_checked_shard)
    documents: bool = option(False, "taggers trained with --context: consecutive lines are one document (a blank line "
                             "ends it; JSON objects with a 'doc' field are grouped by it) and each sentence reads its "
                             "neighbours", group="input", negative="--sentences", default_help="sentences alone")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.shard is not None and self.documents:
            raise ConfigError("shard and documents do not mix: a shard takes every N-th line, which cuts documents "
                              "apart")
        if self.shard is not None and self.output == "conll":
            raise ConfigError("shard needs output jsonl, where each answer carries its input line number; "
                              "CoNLL has no place for it")


@dataclass(frozen=True, kw_only=True)
class ServeLimits(Options):
    """What one request to the service may cost (``max_texts`` inputs, ``max_chars`` characters per
    text (a word list's words joined by spaces), ``max_words`` words per pre-split input,
    ``max_body_bytes`` checked before parsing, ``max_request_subwords`` counted with the model's
    tokenizer before queueing), how much the service takes on at once (``max_queued_subwords``) and
    for how long (``request_timeout_s``), how concurrent requests are combined and split
    (``max_batch_texts``, ``max_batch_subwords``, ``max_batch_wait_ms``, ``workers``,
    ``quick_lane_subwords``), and when an idle connection or a slow body is cut off
    (``idle_timeout_s``, ``body_timeout_s``)."""

    max_texts: int = option(256, "inputs per request", group="service", low=1, high=1_000_000)
    max_chars: int = option(20_000, "characters per text", group="service", low=1, high=100_000_000)
    max_words: int = option(5_000, "words per pre-split input", group="service", low=1, high=10_000_000)
    max_body_bytes: int = option(1 << 20, "bytes per request body", group="service", low=1, high=1 << 34)
    max_batch_texts: int = option(128, "inputs of concurrent requests combined into one prediction", group="service",
                                  low=1, high=1_000_000)
    max_batch_wait_ms: float = option(5.0, "how long to wait for more requests before predicting", group="service",
                                      low=0.0, high=60_000.0)
    workers: int = option(2, "micro-batches predicted at once, each on its own thread", group="service", low=1,
                          high=1024)
    idle_timeout_s: float = option(15.0, "seconds a connection may stay open without a complete request head (after "
                                   "connecting or after a response); then it is closed", group="service", low=0.0,
                                   low_open=True, high=86_400.0)
    body_timeout_s: float = option(30.0, "seconds a request body may take to arrive; then 408 and the connection is "
                                   "closed", group="service", low=0.0, low_open=True, high=86_400.0)
    max_request_subwords: int = option(65_536, "sub-words (the model's tokens, counted before the request is queued) "
                                       "per request; a request with more gets 413", group="service", low=1,
                                       high=1 << 40)
    max_queued_subwords: int = option(262_144, "sub-words of admitted requests not yet answered (queued or being "
                                      "predicted); a request that would pass it gets 503 with Retry-After (when "
                                      "nothing is queued, any request within --max-request-subwords is admitted)",
                                      group="service", low=1, high=1 << 40)
    request_timeout_s: float = option(60.0, "seconds from a request's arrival to its answer; past it, 503 with "
                                      "Retry-After, and its work not yet started is dropped (as is the work of a "
                                      "client that disconnects)", group="service", low=0.0, low_open=True,
                                      high=86_400.0)
    max_batch_subwords: int = option(4_096, "sub-words per micro-batch (at least one input); a larger request is "
                                     "split into several micro-batches", group="service", low=1, high=1 << 40)
    quick_lane_subwords: int = option(512, "requests of at most this many sub-words have a worker of their own when "
                                      "--workers is 2 or more, so they never wait behind a large one (0: none)",
                                      group="service", low=0, high=1 << 40)
    allowed_hosts: str | None = option(None, "Host header values answered, comma-separated: names, addresses, "
                                       "*.example.com, or * for any; a request with another Host gets 400 (a web page "
                                       "cannot reach the server by DNS rebinding)", group="service",
                                       parse=lambda value: ",".join(parse_allowed_hosts(value)),
                                       default_help="localhost, 127.0.0.1 and [::1] when --host is a loopback address; "
                                       "else --host itself (any, for 0.0.0.0 or ::)", metavar="HOSTS")


@dataclass(frozen=True, kw_only=True)
class ServeConfig(ScorerOptions, ServeLimits):
    """``entitune serve``: the model over HTTP."""

    host: str = option("127.0.0.1", "address to listen on (0.0.0.0 for every interface)", group="service")
    port: int = option(8000, "TCP port (0: a free one, printed)", group="service", low=0, high=65535)
    processes: int = option(1, "server processes answering on the port, each with its own copy of the model and its "
                            "own micro-batcher (the kernel spreads connections over them); a process that dies is "
                            "replaced; with more than one, --threads defaults to the CPUs divided among them",
                            group="service", low=1, high=1024)

    def limits(self) -> ServeLimits:
        """The request limits of these options."""
        return ServeLimits(**{name: getattr(self, name) for name in ServeLimits.__dataclass_fields__})


@dataclass(frozen=True, kw_only=True)
class ExportConfig(ReadOptions):
    """``entitune export``: the model to ONNX, re-scored before it is kept."""

    model: str = model_dir_option("trained model directory")
    onnx: str = option(help="directory to write the ONNX export to", group="output", metavar="DIR")
    quantize: str = option("none", "none | int8 (dynamic int8 MatMuls)", group="model", choices=QUANTIZATIONS)
    eval_file: str | None = option(None, "annotated dev/test file to re-score the export on", group="input",
                                   flag="--eval", input_file=True, metavar="FILE")
    max_drop: float = option(0.5, "largest drop of entity F1 (accuracy for a classifier) accepted, in points "
                             "(negative: the export must score higher by that much)", group="output", low=-100.0,
                             high=100.0)
    accept_drop: bool = option(False, "keep the export whatever its drop", group="output", negative="--refuse-drop")
    threads: int | None = option(None, "CPU threads for torch", group="run", low=1, high=4096,
                                 default_help="torch's choice")


@dataclass(frozen=True, kw_only=True)
class PackageConfig(Options):
    """``entitune package``: a model directory as one archive."""

    model: str = model_dir_option("trained model directory (or ONNX export) to package")
    out: str = option(help="archive to write (.tar.gz); 'entitune predict' and entitune.load() read it as the "
                      "directory", group="output", metavar="FILE")
    with_logs: bool = option(False, "also pack the run's logs (log.jsonl, train_log.json, tensorboard/, report.html); "
                             "checkpoints are never packed", group="output", negative="--without-logs")


@dataclass(frozen=True, kw_only=True)
class ReportConfig(Options):
    """``entitune report``: one HTML page on a run."""

    run_dir: str = option(help="a training run's output directory (log.jsonl, train_log.json, the model)",
                          group="input", positional=True, metavar="RUN_DIR")
    eval_file: str | None = option(None, "JSON written by 'entitune evaluate --json' (with --errors for the error "
                                   "view)", group="input", flag="--eval", input_file=True, metavar="FILE",
                                   default_help="the run's test report, else its best dev scores")
    out: str | None = option(None, "HTML file to write", group="output", default_help="RUN_DIR/report.html",
                             metavar="FILE")


def parse_allowed_hosts(value: str) -> list[str]:
    """``--allowed-hosts`` as a list of Host patterns, lower case, IPv6 addresses in brackets (as a
    Host header writes them); ``*`` alone or as the first label (``*.example.com``) only.

    >>> parse_allowed_hosts("Example.org, ::1,*.local")
    ['example.org', '[::1]', '*.local']
    """
    hosts = []
    for item in str(value).split(","):
        host = item.strip().lower()
        if not host:
            continue
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        if "*" in host[1:] or (host.startswith("*") and host != "*" and not host.startswith("*.")):
            raise ConfigError(f"allowed hosts: {item.strip()!r} is not a name, an address, *.domain or *")
        hosts.append(host)
    if not hosts:
        raise ConfigError("allowed hosts: no host given (write * to answer any Host)")
    return hosts


def parse_shard(shard: str | None) -> tuple[int, int] | None:
    """``"I/N"`` as ``(I, N)``: shard ``I`` (0-based) of ``N`` answers the lines whose 0-based index
    is ``I`` modulo ``N`` (round robin: it works on a stream of unknown length, and spreads runs of
    long or short lines over the shards). None stays None.

    >>> parse_shard("1/4"), parse_shard(None)
    ((1, 4), None)
    """
    if shard is None:
        return None
    index, slash, count = str(shard).partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i = n = -1
    if not slash or n < 1 or not 0 <= i < n:
        raise ConfigError(f"shard must be I/N with 0 <= I < N (shard I of N: 0/4 to 3/4), got {shard!r}")
    return i, n
