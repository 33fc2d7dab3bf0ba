"""The model card: ``README.md`` in every model directory ``entitune train`` writes, generated from
the run's ``train_log.json`` content and the directory's own files, never from hand-written numbers.

It says what the model does (task, labels), what it was built from (the encoder by name and hash,
and in the front matter's ``base_model`` its Hub repository when it came from one, the training
files by name and size, the key settings), how well it did (dev and test scores),
what it is for and where it stops, and how to load it: ``entitune.load``, ``entitune predict``,
and ``transformers.pipeline`` where transformers computes the same thing (else why it refuses).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from .._version import __version__
from ..files import atomic_write_text, display_name, name_for_display
from ..tags import entity_types
from .model_dir import CARD_FILE, CONFIG_FILE, REFUSAL_KEY, SETTINGS_FILE

#: transformers' pipeline task of each entitune task
PIPELINE_TASKS = {"ner": "token-classification", "classify": "text-classification"}


def write_model_card(directory: str | Path, log: Mapping) -> Path:
    """Write ``directory/README.md`` from a run's log (``train_log.json`` content) and the saved
    model's ``config.json`` and ``entitune.json``; returns its path."""
    path = Path(directory) / CARD_FILE
    atomic_write_text(model_card(directory, log), path)
    return path


def model_card(directory: str | Path, log: Mapping) -> str:
    """The model card of the model saved in ``directory`` by the run that ``log`` describes."""
    directory = Path(directory)
    config = _read_json(directory / CONFIG_FILE)
    settings = _read_json(directory / SETTINGS_FILE) or dict(log.get("model") or {})
    name = display_name(directory.resolve())
    task = settings.get("task", "ner")
    works = bool(config.get("architectures")) and REFUSAL_KEY not in config
    sections = [
        front_matter(name, task, works, log, directory),
        _summary(name, task, settings, log),
        _labels(task, settings),
        _encoder(settings, config),
        _data(task, log),
        _recipe(task, settings, log),
        _scores(task, log),
        _limits(task, settings, log),
        _usage(name, task, settings, config, works),
    ]
    return "\n".join(s for s in sections if s).rstrip() + "\n"


# ---------------------------------------------------------------------------------- sections
def base_model(log: Mapping) -> str | None:
    """The Hub repository a run's encoder came from (``train_log.json``'s ``base_model.repo``), for
    the card's ``base_model`` key; None for an encoder from a local directory."""
    record = log.get("base_model")
    repo = record.get("repo") if isinstance(record, Mapping) else None
    return repo if isinstance(repo, str) and repo else None


def front_matter(name: str, task: str, works: bool, log: Mapping, directory: Path) -> str:
    """The card's YAML front matter, as the Hub reads it (made by ``huggingface_hub.ModelCardData``):
    ``base_model`` (the Hub repository of the encoder, when it came from one), ``license`` (the
    encoder card's, where it says), ``datasets`` (the training files by name), ``pipeline_tag`` and
    ``library_name`` (where transformers computes the model's answers), ``tags``, and a
    ``model-index`` with the test scores (none without a test file)."""
    from huggingface_hub import ModelCardData

    config = log.get("config") or {}
    train = config.get("train")
    files = [train] if isinstance(train, str) else list(train or [])
    data = ModelCardData(
        base_model=base_model(log), license=encoder_license(log, directory),
        datasets=[_file_name(f) for f in files] or None,
        library_name="transformers" if works else "entitune", pipeline_tag=PIPELINE_TASKS[task],
        tags=["entitune", PIPELINE_TASKS[task], *(["ner"] if task == "ner" else [])],
        model_name=name, eval_results=eval_results(task, log) or None,
    )
    return f"---\n{data.to_yaml()}\n---\n"


def eval_results(task: str, log: Mapping) -> list:
    """The test scores of a run as Hub evaluation results (the card's ``model-index``)."""
    from huggingface_hub import EvalResult

    test, config = log.get("test"), log.get("config") or {}
    if not test:
        return []
    dataset = _file_name(config.get("test"))
    if task == "ner":
        entity = test.get("entity") or {}
        metrics = [("f1", "entity F1 (strict, micro)", entity.get("f1")),
                   ("precision", "entity precision", entity.get("precision")),
                   ("recall", "entity recall", entity.get("recall")),
                   ("f1", "token micro F1", test.get("token_micro_f1"))]
    else:
        metrics = [("accuracy", "accuracy", test.get("accuracy")), ("f1", "macro F1", test.get("macro_f1")),
                   ("f1", "micro F1", test.get("micro_f1"))]
    return [EvalResult(task_type=PIPELINE_TASKS[task], dataset_type=dataset, dataset_name=dataset,
                       dataset_split="test", metric_type=kind, metric_name=label, metric_value=round(float(value), 4))
            for kind, label, value in metrics if isinstance(value, (int, float))]


def encoder_license(log: Mapping, directory: Path) -> str | None:
    """The license the encoder's own card declares (its ``README.md`` front matter), or None: the
    Hub snapshot's card for a Hub encoder, the directory's for a local one, the bundled MiniLM's
    for the default."""
    from huggingface_hub import ModelCard, try_to_load_from_cache

    from .model_dir import default_encoder_dir

    record = log.get("base_model") if isinstance(log.get("base_model"), Mapping) else {}
    model = (log.get("config") or {}).get("model")
    if record.get("repo"):  # the card downloaded beside the snapshot, from the cache
        cached = try_to_load_from_cache(record["repo"], CARD_FILE, revision=record.get("commit"))
        cards = [Path(cached)] if isinstance(cached, str) else []
    else:
        cards = [Path(model if isinstance(model, str) and model else default_encoder_dir()) / CARD_FILE]
    for card in cards:
        if card.is_file():
            try:
                value = ModelCard.load(card).data.license
            except Exception:  # noqa: BLE001 - a card the Hub's parser cannot read has no license for us
                return None
            return value if isinstance(value, str) else None
    return None


def _summary(name: str, task: str, settings: Mapping, log: Mapping) -> str:
    encoder = name_for_display(settings.get("encoder", "")) or "an unnamed encoder"
    if task == "ner":
        types = entity_types(settings.get("labels", ()))
        what = (f"a named entity recognition model that tags {len(types)} entity type{'s' * (len(types) != 1)} "
                f"in text, fine-tuned from {encoder} with a {settings.get('head', 'linear')} head")
    else:
        kind = "multi-label" if settings.get("multi_label") else "single-label"
        what = (f"a {kind} text classifier over {len(settings.get('labels', ()))} classes, fine-tuned from "
                f"{encoder} with {settings.get('pooling', 'cls')} pooling")
    return (f"# {name}\n\n{name} is {what}. This card was generated by `entitune train` (entitune "
            f"{settings.get('version', __version__)}) from the run's log; every number below comes from that run.\n")


def _labels(task: str, settings: Mapping) -> str:
    labels = list(settings.get("labels", ()))
    if task == "ner":
        types = sorted(entity_types(labels))
        scheme = settings.get("scheme", "IOB2")
        learned = "" if scheme == "IOB2" else f" (the model learned them in {scheme}; predictions come back in IOB2)"
        return (f"## Labels\n\nEntity types ({len(types)}): {', '.join(f'`{t}`' for t in types)}.\n\n"
                f"Tags are IOB2 (`B-TYPE`, `I-TYPE`, `O`){learned}.\n")
    text = f"## Labels\n\nClasses ({len(labels)}): {', '.join(f'`{c}`' for c in labels)}.\n"
    if settings.get("multi_label"):
        text += (f"\nMulti-label: every class whose probability passes {settings.get('threshold', 0.5):.2f} is "
                 "given (the threshold was chosen on dev).\n")
    return text


def _encoder(settings: Mapping, config: Mapping) -> str:
    rows = [("name", name_for_display(settings.get("encoder", "")) or "not recorded"),
            ("model.safetensors SHA-256", f"`{settings['encoder_sha256']}`" if settings.get("encoder_sha256")
             else "not recorded")]
    shape = [f"{config['model_type']}"] if config.get("model_type") else []
    shape += [f"{config[k]} {label}" for k, label in (("num_hidden_layers", "layers"), ("hidden_size", "hidden"))
              if config.get(k)]
    if shape:
        rows.append(("architecture", ", ".join(shape)))
    return "## Encoder\n\n" + _table(("encoder", ""), rows)


def _data(task: str, log: Mapping) -> str:
    config, counts = log.get("config") or {}, log.get("data") or {}
    unit = "sentences" if task == "ner" else "texts"
    train = _file_name(config.get("train"))
    if config.get("dev"):
        dev = _file_name(config["dev"])
    elif counts.get("dev"):
        dev = f"held out from {train} (seeded split, seed {config.get('seed', '?')})"
    else:
        dev = "none (the last epoch was kept)"
    rows = [("train", train, _count(counts.get("train")))]
    if counts.get("augmented"):
        rows.append(("train, augmented", "copies of train with entity mentions swapped (--augment-mentions)",
                     _count(counts["augmented"])))
    rows.append(("dev", dev, _count(counts.get("dev"))))
    rows.append(("test", _file_name(config["test"]), _count(counts.get("test"))) if config.get("test")
                else ("test", "none", "-"))
    return "## Training data\n\n" + _table(("split", "file", unit), rows)


def _recipe(task: str, settings: Mapping, log: Mapping) -> str:
    config, train = log.get("config") or {}, log.get("train") or {}
    if task == "ner":
        rows = [("head", settings.get("head")), ("features", settings.get("features")),
                ("word features", settings.get("word_features", "none")),
                ("scheme learned", settings.get("scheme")),
                ("decoding", "constrained (no invalid tag sequences)" if settings.get("constrained", True)
                 else "argmax (unconstrained)")]
    else:
        rows = [("pooling", f"{settings.get('pooling')}" + (" through the pretrained pooler" if settings.get("pooler") else "")),
                ("class weights", config.get("class_weights", "none")), ("windows of a long text", settings.get("windows"))]
    batch = (f"{config['batch_tokens']} sub-words" if config.get("batch_tokens") else config.get("batch_size"))
    rows += [
        ("window", f"{settings.get('max_length')} sub-tokens, overlap {settings.get('stride')}"),
        ("epochs", f"{config.get('epochs')} (best: {train.get('best_epoch', '?')})"),
        ("learning rate", f"{config.get('lr')} encoder, " + (f"{config['head_lr']} head" if config.get("head_lr")
                                                              else "the head's default")),
        ("batch", f"{batch} x {config.get('accumulate', 1)} accumulated"),
        ("warm-up, weight decay, dropout", f"{config.get('warmup')}, {config.get('weight_decay')}, {settings.get('dropout')}"),
        ("precision, seed", f"{config.get('precision')}, {config.get('seed')}"),
    ]
    if train.get("train_seconds") is not None:
        seconds = train["train_seconds"]
        rows.append(("training time", f"{seconds:.1f} s" if seconds < 100 else f"{seconds / 60:.0f} min"))
    return "## Recipe\n\n" + _table(("setting", "value"), [(k, v) for k, v in rows if v is not None])


def _scores(task: str, log: Mapping) -> str:
    train, config = log.get("train") or {}, log.get("config") or {}
    parts = ["## Scores\n"]
    epochs = [e for e in train.get("epochs", []) if e.get("score") is not None]
    if epochs:
        metric = (epochs[0].get("metric") or "score").replace("_", " ")
        rows = [(str(e["epoch"]) + (" (kept)" if e.get("is_best") else ""), _f(e.get("train_loss")), _f(e.get("score")))
                for e in train.get("epochs", [])]
        parts.append(f"Dev, per epoch (the dev set chose the kept epoch, so its score is optimistic):\n\n"
                     + _table(("epoch", "train loss", f"dev {metric}"), rows))
    test = log.get("test")
    if not test:
        parts.append("No test file was given: this model has no score on held-out data.\n")
        return "\n".join(parts)
    parts.append(f"Test ({_file_name(config.get('test'))}):\n")
    if task == "ner":
        entity = test.get("entity") or {}
        parts.append(_table(("", "precision", "recall", "F1"),
                            [("entities (micro, exact spans)", _f(entity.get("precision")), _f(entity.get("recall")),
                              _f(entity.get("f1")))]) + f"\nToken micro F1 (word accuracy): {_f(test.get('token_micro_f1'))}\n")
        per = test.get("per_type") or {}
        kind = "type"
    else:
        parts.append(f"Accuracy {_f(test.get('accuracy'))}, macro F1 {_f(test.get('macro_f1'))}, "
                     f"micro F1 {_f(test.get('micro_f1'))} over {_count(test.get('texts'))} texts.\n")
        per = test.get("per_class") or {}
        kind = "class"
    if per:
        parts.append(_table((kind, "precision", "recall", "F1", "support"),
                            [(k, _f(v.get("precision")), _f(v.get("recall")), _f(v.get("f1")), _count(v.get("support")))
                             for k, v in sorted(per.items())]))
    return "\n".join(parts)


def _limits(task: str, settings: Mapping, log: Mapping) -> str:
    config, counts = log.get("config") or {}, log.get("data") or {}
    unit = "sentences" if task == "ner" else "texts"
    train = _file_name(config.get("train"))
    if task == "ner":
        types = sorted(entity_types(settings.get("labels", ())))
        use = f"finding {', '.join(types)} entities in text like {train}"
    else:
        use = f"sorting text like {train} into {', '.join(settings.get('labels', ()))}"
    lines = [
        f"- Intended use: {use}.",
        f"- It learned from {_count(counts.get('train'))} {unit} of one source; on text of another domain, "
        "genre, language or spelling it will do worse than the scores above, which hold for data like the test file.",
        f"- Long inputs are read in windows of {settings.get('max_length')} sub-tokens that overlap by "
        f"{settings.get('stride')}" + (": every word gets a tag." if task == "ner" else
                                        (", combined into one answer." if settings.get("windows", "all") == "all"
                                         else "; only the first window is read.")),
        ("- It only ever predicts the labels above; anything else in a text goes untagged." if task == "ner" else
         "- It only ever predicts the classes above, even for a text that belongs to none of them."),
        "- Its errors have not been checked for bias; check it on your own data before decisions about people.",
    ]
    return "## Intended use and limits\n\n" + "\n".join(lines) + "\n"


def _usage(name: str, task: str, settings: Mapping, config: Mapping, works: bool) -> str:
    example = "show me films with drew barrymore" if task == "ner" else "a text to classify"
    field = "entities" if task == "ner" else "label, score"
    parts = ["## How to use\n",
             "With entitune, in Python:\n",
             f"```python\nimport entitune\n\npredictor = entitune.load(\"{name}\")  # this directory, or its "
             f"'entitune package' archive\nfor answer in predictor.predict([\"{example}\"]):\n"
             f"    print(answer.to_dict())  # {field}\n```\n",
             "From the command line (one text per line in, JSON lines out), or as a service with a page:\n",
             f"```sh\necho \"{example}\" | entitune predict {name}\nentitune serve {name}\n```\n"]
    pipeline_task = PIPELINE_TASKS[task]
    if works:
        aggregation = ', aggregation_strategy="first"' if task == "ner" else ""
        parts.append(f"With transformers alone (`{config['architectures'][0]}`):\n")
        parts.append(f"```python\nfrom transformers import pipeline\n\npipe = pipeline(\"{pipeline_task}\", "
                     f"model=\"{name}\"{aggregation})\nprint(pipe(\"{example}\"))\n```\n")
        if task == "ner":
            parts.append("The pipeline computes the same scores; entitune also forbids invalid tag sequences"
                         + (" (constrained decoding)" if settings.get("constrained", True) else "")
                         + " and reads long texts in overlapping windows, so on such inputs its tags can differ.\n")
        else:
            parts.append("The pipeline gives the same answer for a text that fits one window; entitune reads "
                         "longer texts whole, in overlapping windows.\n")
    else:
        refusal = config.get(REFUSAL_KEY) or "transformers has no model that computes this one"
        parts.append(f"`transformers.pipeline(\"{pipeline_task}\", ...)` refuses this model on purpose "
                     f"(`{REFUSAL_KEY}` in config.json holds the reason it shows): {refusal}\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------- helpers
def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _file_name(path: object) -> str:
    """A data file by its name, never its path (the card travels; the path says nothing elsewhere);
    several files (``train`` may list them) as ``a.conll + b.conll``."""
    if isinstance(path, list):
        return " + ".join(_file_name(p) for p in path) if path else "none"
    return Path(str(path)).name if path else "none"


def _count(n: object) -> str:
    return f"{n:,}" if isinstance(n, int) else "-"


def _f(x: object) -> str:
    return f"{x:.4f}" if isinstance(x, (int, float)) else "-"


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
