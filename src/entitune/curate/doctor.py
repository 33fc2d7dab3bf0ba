"""``entitune doctor``: one report on annotated files before any training.

Tagged files (``diagnose``):
Per file: sentences, words, entities per type (strict spans of the file's own tags, so invalid
``I-`` starts are listed, not counted), the tag scheme, invalid tag sequences with line numbers,
the sub-word length histogram against ``max_length`` (how many sentences need windows), words
with no sub-token, the share of words the tokenizer maps to ``[UNK]``, labels missing from the
first file (taken as train), sentences shared with it verbatim, and the share of words with an
uppercase letter. Totals over all files lead the JSON, with ``advice``: options worth trying for
this data and tokenizer (``--word-features shape`` where the tokenizer lowercases every word but
capitalisation varies in the training file, so the encoder never sees what it would tell).

Labelled texts for classification (``diagnose_texts``): per file, texts per class and the imbalance
(largest class over smallest), labels missing from the first file, texts shared with it verbatim,
the sub-word length histogram against ``max_length`` (how many texts will be read in several
windows), and the ``[UNK]`` share.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..data import read_sentences, read_texts, sniff_format, split_words
from ..encode import CASE_VARIES, WordEncoder, tokenizer_lowercases, uppercase_share
from ..errors import shorten
from ..artifact import model_dir
from ..artifact.hub import resolve_encoder
from ..tags import detect_scheme, first_invalid, invalid_starts, spans_from_tags, to_iob2
from ..types import Sentence, TextExample

#: Formats with one token per line, where a word's line is the sentence's first line plus its index.
LINE_PER_WORD = ("conll", "bio", "weibo")
#: Examples kept per finding.
EXAMPLES = 10
#: Characters of a word, tag or label shown in the plain-text report (the JSON keeps them whole).
SHOWN = 40


def _w(text: str) -> str:
    """A word, tag or label from a user's file as the plain-text report shows it: at most ``SHOWN``
    characters (a 5 MB "word" is cut, with an ellipsis and its length)."""
    return shorten(text, SHOWN)


def _entities(sentences: Sequence[Sentence], scheme: str) -> Counter:
    counts: Counter = Counter()
    for s in sentences:
        tags = list(s.tags or ())
        if scheme != "IOB2":
            tags = to_iob2(tags, scheme)  # type: ignore[arg-type]
        counts.update(span.label for span in spans_from_tags(tags, "strict"))
    return counts


def _invalid(sentences: Sequence[Sentence], scheme: str, fmt: str) -> dict:
    found: list[dict] = []
    count = 0
    for s in sentences:
        tags = list(s.tags or ())
        if scheme == "IOB2":
            positions = invalid_starts(tags)
        elif scheme in ("BIOES", "BILOU"):
            first = first_invalid(tags)
            positions = [] if first is None else [first]
        else:
            positions = []  # every IOB1 sequence is valid
        count += len(positions)
        for i in positions[: max(0, EXAMPLES - len(found))]:
            exact = fmt in LINE_PER_WORD
            found.append({
                "line": s.line + i if exact else s.line,
                "word": i,
                "tag": tags[i],
                "after": tags[i - 1] if i else "(sentence start)",
                **({} if exact else {"note": "line of the sentence"}),
            })
    return {"count": count, "examples": found}


def _lengths(encoder: WordEncoder, sentences: Sequence[Sentence]) -> dict:
    pieces = encoder.raw_word_pieces([s.words for s in sentences])
    specials = len(encoder.prefix) + len(encoder.suffix)
    m = encoder.max_length
    edges = [m // 4, m // 2, m, 2 * m, 4 * m]
    bins = Counter()
    need_windows = 0
    zero: list[str] = []
    zero_count = unk = words = 0
    unk_examples: Counter = Counter()
    longest = 0
    total = 0
    for sent, word_pieces in zip(sentences, pieces):
        n = sum(max(1, len(p)) for p in word_pieces) + specials
        longest = max(longest, n)
        total += n
        need_windows += n > m
        label = next((f"<={e}" for e in edges if n <= e), f">{edges[-1]}")
        bins[label] += 1
        for word, p in zip(sent.words, word_pieces):
            words += 1
            if not p:
                zero_count += 1
                if len(zero) < EXAMPLES:
                    zero.append(word)
            elif encoder.unk_id in p:
                unk += 1
                unk_examples[word] += 1
    order = [f"<={e}" for e in edges] + [f">{edges[-1]}"]
    return {
        "subword_lengths": {
            "max_length": m,
            "mean": round(total / max(1, len(sentences)), 2),
            "max": longest,
            "histogram": {k: bins.get(k, 0) for k in order},
            "sentences_needing_windows": need_windows,
        },
        "zero_subword_words": {"count": zero_count, "examples": zero},
        "unk_words": {
            "count": unk,
            "share": round(unk / max(1, words), 4),
            "examples": [w for w, _ in unk_examples.most_common(EXAMPLES)],
        },
    }


def word_encoder_for(model: str | Path | None, max_length: int) -> tuple[WordEncoder, str]:
    """The tokenizer of checkpoint ``model`` (a directory or a Hugging Face Hub name; default: the
    bundled MiniLM) as a ``WordEncoder`` with ``max_length``, and the checkpoint as reports name it
    (its path, or ``ORG/NAME[@REVISION]``)."""
    encoder = resolve_encoder(model, weights=False)  # the tokenizer and config are all it reads
    path = encoder.directory
    config = model_dir.load_hf_config(path)
    return WordEncoder(model_dir.load_tokenizer(path, config.model_type), max_length, 0), encoder.asked


def diagnose(paths: Sequence[str | Path], format: str = "auto", encoder: WordEncoder | None = None) -> dict:
    """The doctor report for ``paths`` (the first is taken as train); see the module docstring.

    ``encoder`` supplies the tokenizer and ``max_length``; without it the sub-word parts are left out.
    """
    files: list[dict] = []
    train_labels: set[str] = set()
    train_sentences: set[tuple[str, ...]] = set()
    totals_entities: Counter = Counter()
    for k, path in enumerate(paths):
        fmt = sniff_format(path) if format == "auto" else format
        sentences = read_sentences(path, fmt)
        scheme, _ = detect_scheme(s.tags or () for s in sentences)
        entities = _entities(sentences, scheme)
        totals_entities.update(entities)
        report: dict = {
            "path": str(path),
            "format": fmt,
            "scheme": scheme,
            "sentences": len(sentences),
            "words": sum(len(s) for s in sentences),
            "entities": dict(sorted(entities.items(), key=lambda kv: (-kv[1], kv[0]))),
            "entities_total": sum(entities.values()),
            "invalid_sequences": _invalid(sentences, scheme, fmt),
            "uppercase_words": round(uppercase_share(s.words for s in sentences)[0], 4),
            "documents": len({s.doc for s in sentences}),
        }
        if any(s.text is not None for s in sentences):
            report["characters"] = sum(len(s.text or "") for s in sentences)
        labels = {t for s in sentences for t in to_iob2(list(s.tags or ()), scheme)}  # type: ignore[arg-type]
        if k == 0:
            train_labels = labels
            train_sentences = {s.words for s in sentences}
        else:
            report["labels_not_in_train"] = sorted(labels - train_labels)
            shared = [s for s in sentences if s.words in train_sentences]
            report["duplicates_of_train"] = {"count": len(shared), "lines": [s.line for s in shared[:EXAMPLES]]}
        if encoder is not None:
            report.update(_lengths(encoder, sentences))
        files.append(report)
    return {
        "sentences": sum(f["sentences"] for f in files),
        "words": sum(f["words"] for f in files),
        "entities": dict(sorted(totals_entities.items(), key=lambda kv: (-kv[1], kv[0]))),
        "entities_total": sum(totals_entities.values()),
        "advice": _advice(files[0], encoder) if files else [],
        "files": files,
    }


def word_features_advice(uppercase: float, lowercases: bool) -> str | None:
    """The advice on ``--word-features`` for training data whose share ``uppercase`` of words has an
    uppercase letter, under a tokenizer that lowercases (``lowercases``) or not; None: none applies.

    >>> word_features_advice(0.2, True)[:56]
    'the tokenizer lowercases every word (an uncased encoder)'
    >>> word_features_advice(0.2, False), word_features_advice(0.01, True)
    (None, None)
    """
    low, high = CASE_VARIES
    if not (lowercases and low <= uppercase <= high):
        return None
    return (f"the tokenizer lowercases every word (an uncased encoder), but capitalisation varies in the training "
            f"data ({uppercase:.0%} of words have an uppercase letter): 'entitune train' adds word features "
            "(--word-features auto, the default, picks shape+chars) so the tagger sees each word's case")


def context_advice(documents: int) -> str | None:
    """The advice on ``--context`` for a training file of ``documents`` documents; None: one document.

    >>> context_advice(946)[:46]
    'the training file has 946 documents: --context'
    >>> context_advice(1) is None
    True
    """
    if documents < 2:
        return None
    return (f"the training file has {documents} documents: --context auto lets each sentence read its neighbours "
            "(CoNLL-2003: +0.6 entity F1, at about 6x the training time on a CPU)")


def _advice(train: dict, encoder: WordEncoder | None) -> list[str]:
    """Options worth trying, from the training file's report and the tokenizer (the word features
    need one)."""
    advice = [context_advice(train.get("documents", 1))]
    if encoder is not None:
        advice.insert(0, word_features_advice(train["uppercase_words"], tokenizer_lowercases(encoder.tokenizer)))
    return [a for a in advice if a]


def format_doctor(report: dict) -> str:
    """A readable plain-text rendering of ``diagnose``'s report."""
    lines: list[str] = []
    for f in report["files"]:
        lines.append(f"== {f['path']}  ({f['format']}, {f['scheme']})")
        chars = f" | characters {f['characters']:,}" if "characters" in f else ""
        lines.append(f"sentences {f['sentences']:,} | words {f['words']:,}{chars} | entities {f['entities_total']:,}")
        lines.append("  " + ", ".join(f"{_w(t)} {n:,}" for t, n in f["entities"].items()))
        inv = f["invalid_sequences"]
        lines.append(f"invalid tag sequences: {inv['count']}")
        for e in inv["examples"]:
            lines.append(f"  line {e['line']}: {_w(e['tag'])} after {_w(e['after'])}")
        if "uppercase_words" in f:
            lines.append(f"words with an uppercase letter: {f['uppercase_words']:.1%}")
        if f.get("documents", 1) > 1:
            lines.append(f"documents: {f['documents']}")
        if "labels_not_in_train" in f:
            missing = ", ".join(map(_w, f["labels_not_in_train"])) or "none"
            lines.append(f"labels not in the first (train) file: {missing}")
            lines.append(f"sentences also in the first (train) file: {f['duplicates_of_train']['count']}")
        if "subword_lengths" in f:
            sl = f["subword_lengths"]
            hist = "  ".join(f"{k}: {v:,}" for k, v in sl["histogram"].items())
            lines.append(f"sub-words per sentence (special tokens included): mean {sl['mean']}, max {sl['max']}")
            lines.append(f"  {hist}")
            lines.append(f"  {sl['sentences_needing_windows']:,} sentences exceed max length {sl['max_length']} and will be windowed")
            z = f["zero_subword_words"]
            lines.append(f"words with no sub-word: {z['count']}" + (f" (e.g. {[_w(w) for w in z['examples'][:3]]!r})" if z["count"] else ""))
            u = f["unk_words"]
            lines.append(f"words mapped to [UNK]: {u['count']:,} ({u['share']:.2%})" + (f", e.g. {' '.join(map(_w, u['examples'][:5]))}" if u["count"] else ""))
        lines.append("")
    lines.append(f"total: sentences {report['sentences']:,} | words {report['words']:,} | entities {report['entities_total']:,}")
    lines.append("  " + ", ".join(f"{_w(t)} {n:,}" for t, n in report["entities"].items()))
    lines.extend(f"advice: {a}" for a in report.get("advice", ()))
    return "\n".join(lines)


def diagnose_texts(paths: Sequence[str | Path], encoder: WordEncoder | None = None, format: str = "auto",
                   text_columns: Sequence[str] | None = None, label_column: str | None = None) -> dict:
    """The doctor report for files of labelled texts (the first is taken as train); see the module docstring."""
    files: list[dict] = []
    train_labels: set[str] = set()
    train_texts: set[str] = set()
    totals: Counter = Counter()
    for k, path in enumerate(paths):
        data = read_texts(path, format, text_columns, label_column)
        counts = Counter(label for e in data.examples for label in e.labels or ())
        totals.update(counts)
        report: dict = {
            "path": str(path), "format": data.format, "multi_label": data.multi_label, "texts": len(data.examples),
            "classes": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
            "imbalance": round(max(counts.values()) / min(counts.values()), 2) if counts else None,
        }
        if k == 0:
            train_labels, train_texts = set(counts), {e.text for e in data.examples}
        else:
            report["labels_not_in_train"] = sorted(set(counts) - train_labels)
            shared = [e for e in data.examples if e.text in train_texts]
            report["duplicates_of_train"] = {"count": len(shared), "lines": [e.line for e in shared[:EXAMPLES]]}
        if encoder is not None:
            lengths = _lengths(encoder, _as_sentences(data.examples))
            lengths["subword_lengths"]["texts_needing_windows"] = lengths["subword_lengths"].pop("sentences_needing_windows")
            report.update(lengths)
        files.append(report)
    return {"texts": sum(f["texts"] for f in files), "classes": dict(sorted(totals.items())), "files": files}


def _as_sentences(examples: Sequence[TextExample]) -> list[Sentence]:
    return [Sentence(tuple(w for w, _, _ in split_words(e.text)) or (".",)) for e in examples]


def format_text_doctor(report: dict) -> str:
    """A readable plain-text rendering of ``diagnose_texts``'s report."""
    lines: list[str] = []
    for f in report["files"]:
        kind = "multi-label" if f["multi_label"] else "single-label"
        lines.append(f"== {f['path']}  ({f['format']}, {kind})")
        imbalance = f" | imbalance {f['imbalance']}x (largest class / smallest)" if f["imbalance"] else ""
        lines.append(f"texts {f['texts']:,}{imbalance}")
        lines.append("  " + ", ".join(f"{_w(c)} {n:,}" for c, n in f["classes"].items()))
        if "labels_not_in_train" in f:
            lines.append(f"labels not in the first (train) file: {', '.join(map(_w, f['labels_not_in_train'])) or 'none'}")
            lines.append(f"texts also in the first (train) file: {f['duplicates_of_train']['count']}")
        if "subword_lengths" in f:
            sl = f["subword_lengths"]
            lines.append(f"sub-words per text (special tokens included): mean {sl['mean']}, max {sl['max']}")
            lines.append("  " + "  ".join(f"{k}: {v:,}" for k, v in sl["histogram"].items()))
            lines.append(f"  {sl['texts_needing_windows']:,} texts exceed max length {sl['max_length']} and are read "
                         "in several windows")
            u = f["unk_words"]
            lines.append(f"words mapped to [UNK]: {u['count']:,} ({u['share']:.2%})" + (f", e.g. {' '.join(map(_w, u['examples'][:5]))}" if u["count"] else ""))
        lines.append("")
    lines.append(f"total: texts {report['texts']:,} | " + ", ".join(f"{_w(c)} {n:,}" for c, n in report["classes"].items()))
    return "\n".join(lines)
