"""Vocabulary extension of a checkpoint: new WordPiece entries and the embedding rows they read.

Two routes (``extend_checkpoint``):

- append: the tokens get the ids after the last one; every tensor indexed by token id (the word
  embeddings, and where the checkpoint has them an MLM decoder's weight and bias) grows by as many
  rows, and ``config.json``'s ``vocab_size`` with it;
- ``use_unused``: the tokens take the ids of the ``[unusedN]`` placeholders (never trained), whose
  rows are initialised anew; nothing changes shape.

A new row is initialised (``init``):

- ``mean`` (default): the mean of the rows of the known pieces the base vocabulary splits the token
  into (``wordpiece.init_pieces``: ``washington`` from ``washing`` + ``##ton``, a Hangul syllable
  from its jamo); a token with no known piece (a Chinese character the base maps to ``[UNK]``) gets
  the mean of all existing rows plus a small normal perturbation with their covariance times
  ``FALLBACK_COVARIANCE`` (as ``transformers``' ``resize_token_embeddings`` does for new rows), so that
  such tokens start close to an average token and not all identical;
- ``random``: a normal of standard deviation ``initializer_range`` (``config.json``, 0.02 by default)
  for weights, 0 for biases: what a freshly built model would hold, for comparison.

Bias vectors (shape ``(vocab,)``) follow the same rule (the mean of the pieces' biases, else their
overall mean). The base checkpoint's other files are copied (configs, the tokenizer's, a
sentence-transformers pooling folder), stale weights of other formats never: weights are written
as safetensors only. The output directory also gets ``vocab_extension.json`` (route, init, every
token with its id, how it was initialised and from which pieces) and a model card naming the base.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError, check_choice, output_error
from ..artifact import model_dir
from .wordpiece import WordPiece, init_pieces

INITS = ("mean", "random")
#: Scale of the covariance of the perturbation added to the mean row for tokens without known pieces.
FALLBACK_COVARIANCE = 1e-5
RECORD_FILE = "vocab_extension.json"
#: Files of the base that are rewritten (or, for weights, never carried over).
_REWRITTEN = {model_dir.WEIGHTS_FILE, model_dir.CONFIG_FILE, "tokenizer.json", "vocab.txt", model_dir.CARD_FILE}
#: Suffixes of files copied from the base (configs and vocabularies; no weights of any format).
_COPIED = {".json", ".txt"}
#: Tensors indexed by token id besides the word embeddings: MLM decoders and output biases.
_VOCAB_TENSOR = re.compile(r"(^|\.)(word_embeddings\.weight|decoder\.(weight|bias)|lm_head\.(weight|bias)|"
                           r"predictions\.bias|generator_lm_head\.(weight|bias))$")


def vocab_tensors(state: dict, rows: int) -> list[str]:
    """Names of the tensors of ``state`` indexed by token id (first dimension ``rows``): the word
    embeddings first, then MLM decoders and biases. ``ConfigError`` when there is no word-embedding
    matrix of ``rows`` rows."""
    names = [k for k in state if _VOCAB_TENSOR.search(k) and state[k].dim() in (1, 2) and state[k].shape[0] == rows]
    embeddings = [k for k in names if k.endswith("word_embeddings.weight")]
    if len(embeddings) != 1:
        raise ConfigError(f"expected one word-embedding matrix (…word_embeddings.weight) of {rows:,} rows (vocab_size "
                          f"in {model_dir.CONFIG_FILE}), found {len(embeddings)}")
    return embeddings + [k for k in names if k not in embeddings]


def init_rows(table, ids: Sequence[int], pieces: Sequence[Sequence[int]], init: str, std: float, generator):
    """Rows for new tokens of one token-indexed tensor.

    Args:
        table: ``(vocab, dim)`` weights or ``(vocab,)`` biases of the base, in float32.
        ids: the rows being (re)initialised; left out of the means.
        pieces: per new token, the ids of its known pieces in the base (empty: none known).
        init: ``mean`` or ``random`` (see the module docstring).
        std: standard deviation of ``random`` weights.
        generator: a seeded ``torch.Generator`` (the perturbation and random rows).

    Returns:
        ``(len(ids), dim)`` or ``(len(ids),)`` float32 rows, and per token ``pieces`` | ``fallback`` | ``random``.
    """
    import torch

    n = len(ids)
    shape = (n, *table.shape[1:])
    if init == "random":
        if table.dim() == 1:
            return torch.zeros(shape), ["random"] * n
        return torch.randn(shape, generator=generator) * std, ["random"] * n
    keep = torch.ones(table.shape[0], dtype=torch.bool)
    keep[list(ids)] = False
    base = table[keep]  # shape: (old rows, ...) without the rows being replaced
    mean = base.mean(0)
    rows = mean.expand(shape).clone()
    if table.dim() == 2:  # perturbation ~ N(0, FALLBACK_COVARIANCE * cov(base rows))
        centred = base - mean
        cov = centred.T @ centred / max(1, base.shape[0] - 1)  # shape: (dim, dim)
        values, vectors = torch.linalg.eigh(cov)
        root = vectors * values.clamp(min=0).sqrt()  # root @ root.T == cov
        rows += (torch.randn(shape, generator=generator) @ root.T) * FALLBACK_COVARIANCE ** 0.5
    how = []
    for k, p in enumerate(pieces):
        if p:
            rows[k] = table[list(p)].mean(0)
            how.append("pieces")
        else:
            how.append("fallback")
    return rows, how


def _check_out(out: Path, base: Path) -> None:
    if out.resolve() == base.resolve():
        raise ConfigError(f"{out}: the output directory is the base model; give a new directory (--out)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: exists and is not an empty directory; give a new directory (--out)")


def extend_checkpoint(base: WordPiece, tokens: Sequence[str], out: str | Path, *, use_unused: bool = False,
                      init: str = "mean", seed: int = 0, record: dict | None = None,
                      base_name: str | None = None) -> dict:
    """Write ``base``'s checkpoint with ``tokens`` added to its vocabulary to ``out`` (a new or empty
    directory, written whole or not at all); returns the record also saved as ``vocab_extension.json``
    (``record`` adds keys to it). ``base_name``: the base's name (a Hub repository), default the one
    ``model_dir.encoder_identity`` gives."""
    import torch

    check_choice("init", init, INITS)
    if base.directory is None:
        raise ValueError("the base WordPiece tokenizer was not read from a checkpoint directory")
    src = model_dir.check_checkpoint(base.directory)
    out = Path(out)
    _check_out(out, src)
    tokens = list(dict.fromkeys(tokens))
    if not tokens:
        raise ConfigError("no tokens to add")
    vocab, ids = base.extended_vocab(tokens, use_unused)
    extended = base.with_vocab(vocab)
    config = json.loads((src / model_dir.CONFIG_FILE).read_text(encoding="utf-8"))
    rows = config.get("vocab_size")
    if not isinstance(rows, int) or rows < base.size:
        raise ConfigError(f"{src / model_dir.CONFIG_FILE}: vocab_size {rows!r} is smaller than the tokenizer's "
                          f"{base.size:,} entries")
    state = model_dir.load_safetensors(src / model_dir.WEIGHTS_FILE)
    names = vocab_tensors(state, rows)
    new_rows = max(rows, len(vocab))
    pieces = [init_pieces(base, t) for t in tokens]
    generator = torch.Generator().manual_seed(seed)
    std = float(config.get("initializer_range", 0.02))
    embedding = state[names[0]]
    tied = [k for k in names[1:] if state[k].shape == embedding.shape and torch.equal(state[k], embedding)]
    how: list[str] = []
    for name in names:
        if name in tied:
            continue
        old = state[name]
        # shape: (new_rows, *old.shape[1:]); rows past the old ones all belong to new tokens
        table = torch.cat([old.float(), old.new_zeros((new_rows - rows, *old.shape[1:])).float()])
        new, how_here = init_rows(table, ids, pieces, init, std, generator)
        table[ids] = new
        state[name] = table.to(old.dtype)
        if name == names[0]:
            how = how_here
    for name in tied:
        state[name] = state[names[0]].clone()
    config["vocab_size"] = new_rows

    identity_name, base_sha = model_dir.encoder_identity(src)
    base_name = base_name or identity_name
    by_id = {i: t for t, i in base.vocab.items()}
    summary = {
        "base": {"name": base_name, "sha256": base_sha, "vocab_size": rows},
        "route": "unused" if use_unused else "append",
        "init": init,
        "fallback": ("mean of all rows + N(0, 1e-5 x their covariance)" if init == "mean" else "none (random)"),
        "vocab_size": new_rows,
        "added": len(tokens),
        "from_pieces": how.count("pieces"),
        "from_fallback": how.count("fallback"),
        "resized": names if new_rows > rows else [],
        "reinitialised": names,
        **(record or {}),
        "tokens": [{"token": t, "id": i, "init": h, "pieces": [by_id[p] for p in ps]}
                   for t, i, h, ps in zip(tokens, ids, how, pieces)],
    }
    title = f"{base_name} with {len(tokens):,} added tokens"
    _write_directory(out, src, state, config, extended, summary, title)
    return summary


def _write_directory(out: Path, src: Path, state: dict, config: dict, tokenizer: WordPiece, summary: dict,
                     title: str) -> None:
    """Write everything into a temporary sibling of ``out``, then rename it: ``out`` is complete or absent."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would hide the model from other users
        for item in sorted(src.iterdir()):
            if item.name in _REWRITTEN or item.name.startswith("."):
                continue
            if item.is_file() and item.suffix in _COPIED:
                shutil.copy2(item, tmp / item.name)
            elif item.is_dir() and all(f.is_file() and f.suffix in _COPIED for f in item.iterdir()):
                shutil.copytree(item, tmp / item.name)  # e.g. a sentence-transformers 1_Pooling/
        model_dir.save_safetensors(state, tmp / model_dir.WEIGHTS_FILE)
        (tmp / model_dir.CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tokenizer.write(tmp)
        (tmp / RECORD_FILE).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / model_dir.CARD_FILE).write_text(_card(title, summary), encoding="utf-8")
        if out.exists():
            out.rmdir()  # checked empty before
        os.replace(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise output_error(exc.filename or out, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _card(title: str, summary: dict) -> str:
    route = ("written over [unusedN] placeholders" if summary["route"] == "unused"
             else "appended (the embedding matrix grew to match)")
    init = ("the mean of the embeddings of the pieces the base split it into (else the mean of all rows, slightly "
            "perturbed)" if summary["init"] == "mean" else "random normal values")
    return (f"# {title}\n\n"
            f"{summary['base']['name']} (SHA-256 of its weights {summary['base']['sha256'][:12]}...) with "
            f"{summary['added']:,} WordPiece tokens {route}; each new embedding row starts as {init}. "
            f"vocab_size {summary['base']['vocab_size']:,} -> {summary['vocab_size']:,}. "
            f"Written by `entitune vocab extend`; the tokens and their initialisation are in {RECORD_FILE}.\n")
