"""The ``entitune`` command: each verb turns its flags into a recipe call (``entitune.recipes``).

User errors (``EntituneError``) print one line to stderr and exit with status 2 (1 for faults of
the environment: a full disk, a read-only file system); no traceback.
"""
import typer

from . import recipes
from .config import build_config, merged, parse_assignments, read_config_file
from .errors import ENVIRONMENT_ERRNOS, ConfigError, EntituneError, output_error

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    help="Fine-tune BERT-family encoders for named entity recognition and text classification, evaluate them, and predict.",
)

FORMAT_HELP = ("auto | conll (word ... TAG) | bio (TAG<TAB>word) | jsonl (tokens+tags, text+entities, or text+label(s)) | "
               "gmb (Sentence #,Word,POS,Tag CSV) | weibo (char+digit<TAB>tag) | klue | kmou | csv | tsv (label and text)")
THREADS_HELP = ("CPU threads: torch's intra-op threads; with an ONNX export, how many batches run at once "
                "(one thread each). Default: torch's choice")
BACKEND_HELP = "auto | torch | onnx (a directory written by 'entitune export'); auto: onnx when model.onnx is there"
PRECISION_HELP = ("auto (bf16 autocast on a GPU with bf16 tensor cores or an AMX CPU whose timed probe agrees, else fp32) | "
                  "fp32 | bf16; PyTorch models only (an ONNX export keeps its own)")
DEVICE_HELP = "auto (a CUDA GPU if torch sees one, else the CPU) | cpu | cuda (an error without a GPU); an ONNX export runs on the CPU"
DEFAULTS = {f: getattr(recipes.FinetuneConfig, f, None) for f in recipes.FinetuneConfig.__dataclass_fields__}


def _d(name: str) -> str:
    """`` (default: X)`` for a train option, from ``FinetuneConfig``."""
    return f" (default: {DEFAULTS[name]})"


@app.command()
def train(
    config: str | None = typer.Option(None, "--config", callback=recipes.input_path, help="TOML, YAML or JSON file of options (a run's train_log.json too); flags override it"),
    train: list[str] | None = typer.Option(None, "--train", callback=recipes.input_path, help="training file (required here or in --config); repeat it to train on several files as one (--train train.conll --train dev.conll)"),
    out: str | None = typer.Option(None, "--out", help="directory for the trained model (required here or in --config)"),
    dev: str | None = typer.Option(None, "--dev", callback=recipes.input_path, help="dev file for model selection (default: a seeded split of --train)"),
    test: str | None = typer.Option(None, "--test", callback=recipes.input_path, help="test file, scored after training"),
    model: str | None = typer.Option(None, "--model", help="local Hugging Face checkpoint directory (default: bundled MiniLM)"),
    task: str | None = typer.Option(None, help="auto | ner | classify; auto: from the training file (tagged words or labelled texts)" + _d("task")),
    text_columns: str | None = typer.Option(None, "--text-columns", help="classify, CSV/TSV: the text column(s), by index or header name, comma-separated (default: 'text', else every column but the label)"),
    label_column: str | None = typer.Option(None, "--label-column", help="classify, CSV/TSV: the label column, by index or header name (default: 'label', else the first)"),
    pooling: str | None = typer.Option(None, help="classify: cls (the [CLS] vector, through the pretrained pooler where there is one) | mean" + _d("pooling")),
    probe_epochs: int | None = typer.Option(None, "--probe-epochs", help="classify: first train the head alone this many epochs on the frozen encoder's vectors (computed once), then fine-tune everything (linear probe, then fine-tune; 0: off)" + f" (default: {recipes.CLASSIFY_PROBE_EPOCHS} for classify, 0 for ner)"),
    class_weights: str | None = typer.Option(None, "--class-weights", help="classify: none | balanced (weight classes by n / (classes x count))" + _d("class_weights")),
    head: str | None = typer.Option(None, help="ner: linear | crf | bilstm-crf" + _d("head")),
    augment_mentions: int | None = typer.Option(None, "--augment-mentions", help="ner: add N copies of each training sentence that has entities, each mention swapped for another of the same type from the training data (seeded; dev is never augmented); pays on small training sets (1,000 MIT Movie sentences: +6.7 entity F1), not on large ones" + _d("augment_mentions")),
    features: str | None = typer.Option(None, help="finetune | frozen-sum4 | frozen-concat4 (frozen: sum or concatenation of the encoder's last four layers; only the head trains)" + _d("features")),
    word_features: str | None = typer.Option(None, "--word-features", help="ner: auto | none | shape | chars | shape+chars: each word's shape (Capitalised, ALL-CAPS, digits...) and/or a small character CNN, read from the word as written, beside the encoder's vector; gives an uncased encoder (the bundled MiniLM) capitalisation back; auto: shape+chars when the tokenizer lowercases and the training words' case varies, else none" + _d("word_features")),
    epochs: str | None = typer.Option(None, help="passes over the training data, or auto: train until dev stops improving (--patience, default 3 evaluations; at most --max-epochs, the length the learning rate decays over)" + _d("epochs")),
    max_epochs: int | None = typer.Option(None, "--max-epochs", help="with --epochs auto: the most epochs trained, and the schedule's length" + _d("max_epochs")),
    eval_every: int | None = typer.Option(None, "--eval-every", help="also score dev every N optimizer steps, not only at epoch ends; the best of all evaluations is kept (0: epoch ends only)" + _d("eval_every")),
    patience: int | None = typer.Option(None, help="stop after this many evaluations in a row without a better dev score (default: 0, never; 3 with --epochs auto)"),
    average_last: int | None = typer.Option(None, "--average-last", help="average the weights of the last K evaluations (a running sum, SWA-style) and keep the average if dev scores it above the best single evaluation (0: off; at most --patience when that is on)" + _d("average_last")),
    layer_decay: float | None = typer.Option(None, "--layer-decay", help="layer-wise learning-rate decay: encoder layer l (from 0) of L trains at lr x D^(L-l), the embeddings at lr x D^(L+1), the head at --head-lr (1.0: off)" + _d("layer_decay")),
    time_budget_minutes: float | None = typer.Option(None, "--time-budget-minutes", help="stop cleanly once training has run this long: the weights are scored once more and the best kept (default: no limit)"),
    lr: float | None = typer.Option(None, help="peak learning rate of the encoder" + _d("lr")),
    head_lr: float | None = typer.Option(None, "--head-lr", help="peak learning rate of the head (default: 1e-3 linear, 1e-2 crf and bilstm-crf, as measured)"),
    batch_size: int | None = typer.Option(None, "--batch-size", help="windows per training step (per micro-batch with --accumulate)" + _d("batch_size")),
    batch_tokens: int | None = typer.Option(None, "--batch-tokens", help="instead of --batch-size: padded sub-words per batch (batches of similar length)"),
    accumulate: int | None = typer.Option(None, help="micro-batches per optimizer step: the same update as one batch of accumulate x batch-size" + _d("accumulate")),
    precision: str | None = typer.Option(None, help="auto (bf16 autocast where the hardware runs it fast: a GPU with bf16 tensor cores, a CPU with AMX whose timed probe agrees; else fp32; the choice and why are printed and logged) | fp32 | bf16 | fp16 (fp16 uses a gradient scaler)" + _d("precision")),
    save_every: int | None = typer.Option(None, "--save-every", help="also write a resumable checkpoint every N optimizer steps (0: at epoch ends only)" + _d("save_every")),
    keep_checkpoints: int | None = typer.Option(None, "--keep-checkpoints", help="newest checkpoints kept in OUT/checkpoints while the run goes" + _d("keep_checkpoints")),
    keep_checkpoints_after: bool | None = typer.Option(None, "--keep-checkpoints-after/--remove-checkpoints-after", help="keep OUT/checkpoints once the run has finished and saved its model (default: removed then; a failed or killed run always keeps them for --resume)"),
    resume: bool | None = typer.Option(None, "--resume/--no-resume", help="continue from the newest complete checkpoint in OUT/checkpoints (same settings); a finished run (OUT/train_log.json) has nothing to resume and is left as it is (default: no-resume)"),
    device: str | None = typer.Option(None, help="auto (a GPU if there is one) | cpu | cuda" + _d("device")),
    nproc: int | None = typer.Option(None, "--nproc", help="data-parallel processes on this machine (torchrun); for several machines run torchrun yourself, see README" + _d("nproc")),
    dropout: float | None = typer.Option(None, help="dropout before the head" + _d("dropout")),
    context: str | None = typer.Option(None, "--context", help="ner: document context (FLERT): each sentence also reads up to N sub-words of the sentences before and after it in its document (CoNLL -DOCSTART- blocks, JSONL 'doc' fields, else the whole file), saved with the model and used by evaluate and predict --documents (0: off; auto: 64 when the training data has several documents, else 0; on CoNLL-2003 +0.6 F1 at about 6x the CPU time)" + _d("context")),
    context_dropout: float | None = typer.Option(None, "--context-dropout", help="with --context: the share of sentences read without context in each epoch (FLERT-style; seeded by --seed and the epoch)" + _d("context_dropout")),
    max_length: int | None = typer.Option(None, "--max-length", help="sub-tokens per window, special tokens included" + _d("max_length")),
    stride: int | None = typer.Option(None, help="sub-tokens shared by overlapping windows of long sentences" + _d("stride")),
    seed: int | None = typer.Option(None, help="seed for initialisation, shuffling and the dev split" + _d("seed")),
    warmup: float | None = typer.Option(None, help="fraction of steps for linear warm-up" + _d("warmup")),
    weight_decay: float | None = typer.Option(None, "--weight-decay", help="AdamW weight decay (not on biases, LayerNorm, embeddings)" + _d("weight_decay")),
    dev_fraction: float | None = typer.Option(None, "--dev-fraction", help="share of --train held out as dev when --dev is not given (default: 0.1 when dev chooses the best of several epochs or a multi-label threshold, else 0: one epoch uses all the data)"),
    unconstrained: bool | None = typer.Option(None, "--unconstrained/--constrained", help="decode by argmax, without BIO transition constraints (default: constrained)"),
    scheme: str | None = typer.Option(None, help="tag scheme the model learns: IOB2 | BIOES (predictions are always given in IOB2)" + _d("scheme")),
    format: str | None = typer.Option(None, "--format", help=FORMAT_HELP + _d("format")),
    threads: int | None = typer.Option(None, help="CPU threads for torch (default: torch's choice)"),
) -> None:
    """Fine-tune an encoder for NER (a tagging head) or text classification (a pooling head) and save
    the best model (by dev entity F1, or accuracy)."""
    flags = dict(locals())
    source = flags.pop("config")
    flags["train"] = train or None  # repeated --train: a list (not given: None, the file's or none)
    file_values = read_config_file(source) if source else {}
    values = merged(file_values, flags)
    for required in ("train", "out"):
        if values.get(required) is None:
            raise ConfigError(f"--{required} is required (on the command line or in --config)")
    recipes.finetune(build_config(recipes.FinetuneConfig, values, source or "options"))


@app.command()
def evaluate(
    model_dir: str = typer.Argument(..., help="trained model directory (or ONNX export)"),
    data: str = typer.Argument(..., callback=recipes.input_path, help="annotated file to score"),
    json_out: str | None = typer.Option(None, "--json", help="write the report as JSON here"),
    errors_out: str | None = typer.Option(None, "--errors", help="tagger: write every sentence with an error here (JSONL: gold and predicted spans, each error classified); the analysis and the type confusion matrix also go under 'errors' in --json"),
    batch_size: int = typer.Option(64, "--batch-size", help="windows per forward pass"),
    format: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    text_columns: str | None = typer.Option(None, "--text-columns", help="classifier, CSV/TSV: the text column(s)"),
    label_column: str | None = typer.Option(None, "--label-column", help="classifier, CSV/TSV: the label column"),
    threads: int | None = typer.Option(None, help=THREADS_HELP),
    backend: str = typer.Option("auto", "--backend", help=BACKEND_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
) -> None:
    """Score a trained model on an annotated file: entity P/R/F1 per type and token micro F1 for a
    tagger; accuracy, macro/micro F1, per-class scores and the confusion matrix for a classifier."""
    recipes.evaluate_file(model_dir, data, json_out, batch_size=batch_size, format=format, threads=threads,
                          backend=backend, text_columns=text_columns, label_column=label_column, errors_out=errors_out,
                          device=device, precision=precision)


@app.command()
def predict(
    model_dir: str = typer.Argument(..., help="trained model directory (or ONNX export)"),
    input: str | None = typer.Option(None, "--input", callback=recipes.input_path, help="one input per line: text, a JSON list of words, or a JSON object with 'text' (or 'tokens') whose other fields (id...) are copied to its answer; - or none: stdin"),
    output: str = typer.Option("jsonl", "--output", help="jsonl | conll (taggers)"),
    all_scores: bool = typer.Option(False, "--all-scores/--best-score", help="classifiers: every label's probability in 'scores'"),
    batch_size: int = typer.Option(32, "--batch-size", help="windows per forward pass"),
    threads: int | None = typer.Option(None, help=THREADS_HELP),
    backend: str = typer.Option("auto", "--backend", help=BACKEND_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    shard: str | None = typer.Option(None, "--shard", help="I/N: answer only the lines whose 0-based index is I modulo N (round robin), each answer with its input line number as 'line', so N jobs split a file and their outputs merge by 'line' (jsonl only)"),
    documents: bool = typer.Option(False, "--documents/--sentences", help="taggers trained with --context: consecutive lines are one document (a blank line ends it; JSON objects with a 'doc' field are grouped by it) and each sentence reads its neighbours (default: sentences alone)"),
) -> None:
    """Tag raw text or pre-split words (a tagger), or classify texts (a classifier), one input per
    line; JSONL out (words, tags, entities; or text, label, score), or CoNLL for a tagger."""
    recipes.predict_lines(model_dir, input, output=output, batch_size=batch_size, threads=threads, backend=backend,
                          all_scores=all_scores, device=device, shard=shard, precision=precision, documents=documents)


@app.command()
def serve(
    model_dir: str = typer.Argument(..., help="trained model directory (or ONNX export)"),
    host: str = typer.Option("127.0.0.1", help="address to listen on (0.0.0.0 for every interface)"),
    port: int = typer.Option(8000, help="TCP port"),
    batch_size: int = typer.Option(32, "--batch-size", help="windows per forward pass"),
    threads: int | None = typer.Option(None, help=THREADS_HELP),
    max_texts: int = typer.Option(256, "--max-texts", help="inputs per request"),
    max_chars: int = typer.Option(20_000, "--max-chars", help="characters per text"),
    max_words: int = typer.Option(5_000, "--max-words", help="words per pre-split input"),
    max_body_bytes: int = typer.Option(1 << 20, "--max-body-bytes", help="bytes per request body"),
    max_batch_texts: int = typer.Option(128, "--max-batch-texts", help="inputs of concurrent requests combined into one prediction"),
    max_batch_wait_ms: float = typer.Option(5.0, "--max-batch-wait-ms", help="how long to wait for more requests before predicting"),
    workers: int = typer.Option(2, "--workers", help="micro-batches predicted at once, each on its own thread"),
    idle_timeout_s: float = typer.Option(15.0, "--idle-timeout-s", help="seconds a connection may stay open without a complete request head (after connecting or after a response); then it is closed"),
    body_timeout_s: float = typer.Option(30.0, "--body-timeout-s", help="seconds a request body may take to arrive; then 408 and the connection is closed"),
    backend: str = typer.Option("auto", "--backend", help=BACKEND_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
) -> None:
    """Serve the model over HTTP: POST /predict, GET /health, GET /info, and a page at /."""
    recipes.serve(model_dir, host=host, port=port, batch_size=batch_size, threads=threads, backend=backend, device=device,
                  precision=precision,
                  max_texts=max_texts, max_chars=max_chars, max_words=max_words, max_body_bytes=max_body_bytes,
                  max_batch_texts=max_batch_texts, max_batch_wait_ms=max_batch_wait_ms, workers=workers,
                  idle_timeout_s=idle_timeout_s, body_timeout_s=body_timeout_s)


@app.command()
def export(
    model_dir: str = typer.Argument(..., help="trained model directory"),
    onnx: str = typer.Option(..., "--onnx", help="directory to write the ONNX export to"),
    quantize: str = typer.Option("none", "--quantize", help="none | int8 (dynamic int8 MatMuls)"),
    eval_file: str | None = typer.Option(None, "--eval", callback=recipes.input_path, help="annotated dev/test file to re-score the export on"),
    max_drop: float = typer.Option(0.5, "--max-drop", help="largest drop of entity F1 (accuracy for a classifier) accepted, in points"),
    accept_drop: bool = typer.Option(False, "--accept-drop/--refuse-drop", help="keep the export whatever its drop"),
    format: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    text_columns: str | None = typer.Option(None, "--text-columns", help="classifier, CSV/TSV: the text column(s)"),
    label_column: str | None = typer.Option(None, "--label-column", help="classifier, CSV/TSV: the label column"),
    threads: int | None = typer.Option(None, help="CPU threads for torch (default: torch's choice)"),
) -> None:
    """Export a model to ONNX (optionally int8), re-score it against the PyTorch model, keep it only if
    its score (entity F1, or accuracy for a classifier) is within --max-drop points."""
    recipes.export_model(model_dir, onnx, quantize=quantize, eval_file=eval_file, max_drop=max_drop,
                         accept_drop=accept_drop, format=format, threads=threads, text_columns=text_columns,
                         label_column=label_column)


@app.command()
def package(
    model_dir: str = typer.Argument(..., help="trained model directory (or ONNX export) to package"),
    out: str = typer.Option(..., "--out", help="archive to write (.tar.gz); 'entitune predict' and entitune.load() read it as the directory"),
    with_logs: bool = typer.Option(False, "--with-logs/--without-logs", help="also pack the run's logs (log.jsonl, train_log.json, tensorboard/, report.html); checkpoints are never packed"),
) -> None:
    """Pack a model directory into one .tar.gz to ship: the model's files and its card, a SHA256SUMS
    manifest, no checkpoints (and no logs unless --with-logs)."""
    recipes.package(model_dir, out, with_logs=with_logs)


@app.command()
def report(
    run_dir: str = typer.Argument(..., help="a training run's output directory (log.jsonl, train_log.json, the model)"),
    eval_file: str | None = typer.Option(None, "--eval", callback=recipes.input_path, help="JSON written by 'entitune evaluate --json' (with --errors for the error view); default: the run's test report, else its best dev scores"),
    out: str | None = typer.Option(None, "--out", help="HTML file to write (default: RUN_DIR/report.html)"),
) -> None:
    """Write one self-contained HTML page on a run: training and dev curves, precision/recall/F1 per
    type (or class), the confusion matrix, and the errors of an evaluation, gold against predicted."""
    recipes.report(run_dir, eval_file=eval_file, out=out)


@app.command()
def doctor(
    data: list[str] = typer.Argument(..., callback=recipes.input_path, help="annotated files; the first is taken as train"),
    model: str | None = typer.Option(None, "--model", help="checkpoint whose tokenizer is checked (default: bundled MiniLM)"),
    max_length: int = typer.Option(128, "--max-length", help="sub-tokens per window, as in training"),
    json_out: str | None = typer.Option(None, "--json", help="write the report as JSON here"),
    format: str = typer.Option("auto", "--format", help=FORMAT_HELP),
    task: str = typer.Option("auto", help="auto | ner | classify (auto: from the first file)"),
    text_columns: str | None = typer.Option(None, "--text-columns", help="classify, CSV/TSV: the text column(s)"),
    label_column: str | None = typer.Option(None, "--label-column", help="classify, CSV/TSV: the label column"),
    compare: str | None = typer.Option(None, "--compare", help="a second checkpoint (e.g. the base of 'vocab extend'): its [UNK] share and sub-words per sentence beside --model's"),
) -> None:
    """Check data before training: counts (entities per type, or texts per class and imbalance),
    invalid tag sequences, sub-word lengths against --max-length, [UNK] share, labels missing from
    train, train/test duplicates."""
    recipes.doctor(data, model=model, max_length=max_length, json_out=json_out, format=format, task=task,
                   text_columns=text_columns, label_column=label_column, compare=compare)


@app.command()
def convert(
    data: str = typer.Argument(..., callback=recipes.input_path, help="annotated file to convert"),
    out: str = typer.Option(..., "--out", help="file to write"),
    to: str = typer.Option("conll", "--to", help="conll | bio | jsonl (tokens+tags) | jsonl-spans (text+entities)"),
    scheme: str = typer.Option("IOB2", help="tag scheme to write: IOB2 | IOB1 | BIOES | BILOU | IO"),
    format: str = typer.Option("auto", "--format", help=FORMAT_HELP),
) -> None:
    """Convert an annotated file to another format and tag scheme (the input's scheme is detected)."""
    recipes.convert(data, out, to=to, scheme=scheme, format=format)


@app.command()
def split(
    data: str = typer.Argument(..., callback=recipes.input_path, help="annotated file that ships as one piece (e.g. GMB)"),
    out: str = typer.Option(..., "--out", help="directory for train/dev/test files"),
    ratios: str = typer.Option("0.8,0.1,0.1", help="train,dev,test shares"),
    by: str = typer.Option("sentence", help="sentence | document (CoNLL -DOCSTART- blocks)"),
    seed: int = typer.Option(42, help="seed of the shuffle"),
    to: str = typer.Option("conll", "--to", help="conll | bio | jsonl | jsonl-spans"),
    format: str = typer.Option("auto", "--format", help=FORMAT_HELP),
) -> None:
    """Seeded train/dev/test split of one annotated file, written as three files."""
    recipes.split(data, out, ratios=ratios, by=by, seed=seed, to=to, format=format)


@app.command()
def tune(
    config: str | None = typer.Option(None, "--config", callback=recipes.input_path, help="TOML, YAML or JSON file of train options every trial shares (a run's train_log.json too); an option given here (or by --set) is not searched"),
    train: list[str] | None = typer.Option(None, "--train", callback=recipes.input_path, help="training file (required here or in --config); repeat it to train on several files as one (--train train.conll --train dev.conll)"),
    dev: str | None = typer.Option(None, "--dev", callback=recipes.input_path, help="dev file that scores each trial (default: a seeded split of --train, dev_fraction 0.1)"),
    test: str | None = typer.Option(None, "--test", callback=recipes.input_path, help="test file, scored once at the end with the best trial's model"),
    out: str | None = typer.Option(None, "--out", help="directory of the search: tune.db (the Optuna study; run again to resume), trials/NNNN, trials.csv, trials.md, best.toml (required)"),
    model: str | None = typer.Option(None, "--model", help="local Hugging Face checkpoint directory (default: bundled MiniLM)"),
    trials: int = typer.Option(20, "--trials", help="trials wanted in all: finished (complete or pruned) trials of an earlier run of the same --out count"),
    budget_minutes: float | None = typer.Option(None, "--budget-minutes", help="start no trial after this many minutes; the running trial gets what is left as its time budget (default: no limit)"),
    space: str | None = typer.Option(None, "--space", callback=recipes.input_path, help="YAML, JSON or TOML search space replacing the default: {option: {type: float|int, low, high, log} | {type: categorical, choices: [...]} | a fixed value}"),
    seed: int = typer.Option(42, "--seed", help="seed of the sampler (TPE), and of every trial's training unless an option gives one"),
    set_options: list[str] | None = typer.Option(None, "--set", metavar="NAME=VALUE", help="a fixed train option for every trial (e.g. --set max_length=64 --set head=crf); repeat it; overrides --config"),
) -> None:
    """Search training options with Optuna (seeded TPE, median pruning on dev scores): one 'train' run
    per trial, its best dev score the objective; writes the trial table and best.toml, the best trial's
    options for 'entitune train --config'."""
    values = merged(read_config_file(config) if config else {}, parse_assignments(set_options or []))
    values = merged(values, {"train": train or None, "dev": dev, "test": test, "model": model})
    if out is None:
        raise ConfigError("--out is required")
    recipes.tune(recipes.TuneConfig(base=values, out=out, trials=trials, budget_minutes=budget_minutes, space=space,
                                    seed=seed))


PRETRAIN_DEFAULTS = {f: getattr(recipes.PretrainConfig, f, None) for f in recipes.PretrainConfig.__dataclass_fields__}
CORPUS_FORMAT_HELP = ("auto | text (one text per line) | conll | bio | jsonl | gmb | weibo | klue | kmou (the words of each "
                      "sentence) | csv | tsv (the texts of a labelled file); auto: from the first lines, plain text when "
                      "nothing else fits")


def _pd(name: str) -> str:
    """`` (default: X)`` for a pretrain option, from ``PretrainConfig``."""
    return f" (default: {PRETRAIN_DEFAULTS[name]})"


@app.command()
def pretrain(
    text: list[str] | None = typer.Option(None, "--text", callback=recipes.input_path, metavar="FILE", help="text to pretrain on: plain text (one text per line) or any file 'train' reads (only its words are used); more files may follow it (--text a.txt b.conll) or repeat --text (required here or in --config)"),
    more_text: list[str] | None = typer.Argument(None, callback=recipes.input_path, metavar="[MORE_TEXT]...", help="more text files, as after --text", show_default=False),
    config: str | None = typer.Option(None, "--config", callback=recipes.input_path, help="TOML, YAML or JSON file of options (a run's train_log.json too); flags override it"),
    out: str | None = typer.Option(None, "--out", help="directory for the pretrained encoder, a transformers masked-LM checkpoint that 'entitune train --model' takes (required here or in --config)"),
    model: str | None = typer.Option(None, "--model", help="local Hugging Face checkpoint to start from; its masked-LM head is used if it has one, else a new one is made (default: bundled MiniLM)"),
    dev_text: str | None = typer.Option(None, "--dev-text", callback=recipes.input_path, help="dev text: masked accuracy and perplexity after each epoch, on one fixed mask; the epoch with the lowest dev loss is kept"),
    dev_fraction: float | None = typer.Option(None, "--dev-fraction", help="share of the texts held out as dev when --dev-text is not given (0: no dev, the last epoch is kept; default: 0.05)"),
    format: str | None = typer.Option(None, "--format", help=CORPUS_FORMAT_HELP + _pd("format")),
    mlm_probability: float | None = typer.Option(None, "--mlm-probability", help="share of sub-tokens (or words) masked; of those 80% read the mask token, 10% a random token, 10% stay" + _pd("mlm_probability")),
    whole_word_mask: bool | None = typer.Option(None, "--whole-word-mask/--token-mask", help="mask all sub-tokens of a chosen word together, or each sub-token on its own (default: --token-mask)"),
    max_length: int | None = typer.Option(None, "--max-length", help="sub-tokens per window, special tokens included; longer texts become several windows" + _pd("max_length")),
    epochs: int | None = typer.Option(None, help="passes over the texts, each with new masks" + _pd("epochs")),
    eval_every: int | None = typer.Option(None, "--eval-every", help="also score dev every N optimizer steps, not only at epoch ends; the lowest dev loss of all evaluations is kept (0: epoch ends only)" + _pd("eval_every")),
    patience: int | None = typer.Option(None, help="stop after this many evaluations in a row without a lower dev loss (0: never)" + _pd("patience")),
    lr: float | None = typer.Option(None, help="peak learning rate of the encoder" + _pd("lr")),
    head_lr: float | None = typer.Option(None, "--head-lr", help="peak learning rate of the masked-LM head (default: --lr for the checkpoint's own head, 1e-3 for a new one)"),
    batch_size: int | None = typer.Option(None, "--batch-size", help="windows per training step (per micro-batch with --accumulate)" + _pd("batch_size")),
    batch_tokens: int | None = typer.Option(None, "--batch-tokens", help="instead of --batch-size: padded sub-words per batch (batches of similar length)"),
    accumulate: int | None = typer.Option(None, help="micro-batches per optimizer step: the same update as one batch of accumulate x batch-size" + _pd("accumulate")),
    warmup: float | None = typer.Option(None, help="fraction of steps for linear warm-up" + _pd("warmup")),
    weight_decay: float | None = typer.Option(None, "--weight-decay", help="AdamW weight decay (not on biases, LayerNorm, embeddings)" + _pd("weight_decay")),
    precision: str | None = typer.Option(None, help="auto (bf16 where the hardware runs it fast, else fp32) | fp32 | bf16 | fp16 (fp16 uses a gradient scaler)" + _pd("precision")),
    seed: int | None = typer.Option(None, help="seed for the new head, shuffling, the dev split and the masks" + _pd("seed")),
    save_every: int | None = typer.Option(None, "--save-every", help="also write a resumable checkpoint every N optimizer steps (0: at epoch ends only)" + _pd("save_every")),
    keep_checkpoints: int | None = typer.Option(None, "--keep-checkpoints", help="newest checkpoints kept in OUT/checkpoints while the run goes" + _pd("keep_checkpoints")),
    keep_checkpoints_after: bool | None = typer.Option(None, "--keep-checkpoints-after/--remove-checkpoints-after", help="keep OUT/checkpoints once the run has finished and saved its model (default: removed then; a failed or killed run always keeps them for --resume)"),
    resume: bool | None = typer.Option(None, "--resume/--no-resume", help="continue from the newest complete checkpoint in OUT/checkpoints (same settings), to the weights an uninterrupted run gives; a finished run is left as it is (default: no-resume)"),
    device: str | None = typer.Option(None, help="auto (a GPU if there is one) | cpu | cuda" + _pd("device")),
    nproc: int | None = typer.Option(None, "--nproc", help="data-parallel processes on this machine (torchrun)" + _pd("nproc")),
    threads: int | None = typer.Option(None, help="CPU threads for torch (default: torch's choice)"),
) -> None:
    """Pretrain an encoder further as a masked language model on your domain's text (15% of sub-tokens
    masked, new masks each epoch) and save it for 'entitune train --model'; reports dev masked-token
    accuracy and perplexity before training and after each epoch."""
    flags = dict(locals())
    source = flags.pop("config")
    flags["text"] = [*(flags["text"] or []), *(flags.pop("more_text") or [])] or None
    values = merged(read_config_file(source) if source else {}, flags)
    for required in ("text", "out"):
        if values.get(required) is None:
            raise ConfigError(f"--{required} is required (on the command line or in --config)")
    recipes.pretrain(build_config(recipes.PretrainConfig, values, source or "options"))


vocab_app = typer.Typer(no_args_is_help=True, help="Fit a WordPiece vocabulary to your data before fine-tuning: "
                        "measure [UNK] words and sub-words per word (plan), add the words or characters that cut them (extend).")
app.add_typer(vocab_app, name="vocab")
UNIT_HELP = ("auto | word (whole words) | char (each character, a CJK ideograph or a Hangul syllable, as a token of its "
             "own and as a ##continuation); auto: char when most words are CJK. Missing single characters are candidates either way")


@vocab_app.command("plan")
def vocab_plan(
    data: list[str] = typer.Argument(..., callback=recipes.input_path, help="data files: annotated, labelled texts or plain text"),
    model: str | None = typer.Option(None, "--model", help="checkpoint with a WordPiece tokenizer.json (default: bundled MiniLM)"),
    json_out: str | None = typer.Option(None, "--json", help="write the plan with every candidate as JSON here"),
    max_new: int = typer.Option(3000, "--max-new", help="tokens to add at most; the numbers after adding are measured for this many"),
    min_count: int = typer.Option(2, "--min-count", help="occurrences a candidate needs in the data"),
    unit: str = typer.Option("auto", "--unit", help=UNIT_HELP),
    format: str = typer.Option("auto", "--format", help=CORPUS_FORMAT_HELP),
) -> None:
    """Print the share of words the tokenizer maps to [UNK] and the sub-words per word, now and after
    adding the best --max-new candidates, and the candidates ranked by the sub-words they save."""
    recipes.vocab_plan(data, model=model, json_out=json_out, max_new=max_new, min_count=min_count, unit=unit, format=format)


@vocab_app.command("extend")
def vocab_extend(
    add_from: list[str] = typer.Option(..., "--add-from", callback=recipes.input_path, help="data file to take the tokens from (repeat the flag for several)"),
    out: str = typer.Option(..., "--out", help="new directory for the extended checkpoint"),
    model: str | None = typer.Option(None, "--model", help="checkpoint with a WordPiece tokenizer.json (default: bundled MiniLM)"),
    max_new: int = typer.Option(3000, "--max-new", help="tokens to add at most (the best ranked, as 'vocab plan' shows them)"),
    min_count: int = typer.Option(2, "--min-count", help="occurrences a candidate needs in the data"),
    use_unused: bool = typer.Option(False, "--use-unused/--append", help="write the tokens over the \\[unusedN] placeholders (same shapes; --max-new must fit) instead of appending them and resizing the embeddings"),
    init: str = typer.Option("mean", "--init", help="mean (each new row the mean of the embeddings of the pieces the token split into; without known pieces the mean of all rows, slightly perturbed) | random (normal, initializer_range)"),
    unit: str = typer.Option("auto", "--unit", help=UNIT_HELP),
    format: str = typer.Option("auto", "--format", help=CORPUS_FORMAT_HELP),
) -> None:
    """Add the best tokens of the data to the vocabulary as real WordPiece entries (tokenizer.json and
    vocab.txt) and write the checkpoint with their embedding rows, ready for 'entitune train --model OUT'."""
    recipes.vocab_extend(add_from, out=out, model=model, max_new=max_new, min_count=min_count, use_unused=use_unused,
                         init=init, unit=unit, format=format)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the app, turning user errors into one line and exit status 2."""
    recipes.prepare_process()
    try:
        app(args=argv, standalone_mode=True)
    except EntituneError as exc:
        recipes.report_error(exc)
        raise SystemExit(exc.exit_code) from None
    except OSError as exc:  # a write the environment refused outside the places that name their file
        if exc.errno not in ENVIRONMENT_ERRNOS:
            raise
        recipes.report_error(output_error(exc.filename or "output", exc))
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
