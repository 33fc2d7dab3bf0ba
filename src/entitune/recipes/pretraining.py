"""``pretrain``: masked-LM domain pretraining (``entitune pretrain``), callable from Python with the
same result.

The third task on the run every training verb shares (``finetune.run_task``: the locked output
directory, resume, logs, checkpoints, processes, precision, the one loop, ``train_log.json``).
What it adds (``PretrainTask``): the ``MaskedLM`` and its masking rule; the texts of every
``--text`` file (``data.corpus``: plain text, compressed or not, or any annotated file, as words)
streamed once into token stores (``encode.store``: flat arrays of sub-token ids, memory-mapped
from ``OUT/checkpoints/corpus``, reused by ``--resume`` when nothing changed and removed with the
checkpoints), a text going to dev when a hash of its words says so (``--dev-fraction``) unless a
dev file is given; ``train.fit_masked_lm`` (the dev scores of the starting weights first); and a
short model card. The directory it saves is a transformers masked-LM checkpoint that
``entitune train --model DIR`` fine-tunes.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from .._version import __version__
from ..artifact.card import base_model
from ..artifact.hub import Encoder, resolve_encoder
from ..encode import FileRead, MaskingRule, TokenStore, corpus_stores
from ..errors import ConfigError
from ..files import atomic_write_text, check_input_file, display_name, size_text
from ..model.masked_lm import MaskedLM
from ..train import fit_masked_lm
from ..train.distributed import current
from ..train.pretraining import pretraining_encoder
from ..terminal import Console
from .training import CHECKPOINT_DIR, FinetuneResult, run_task
from ..options import PretrainConfig
from .tasks import TaskRun

#: how each format a text file was read as is named in notes
_READ_AS = {"text": "plain text, one text per line", "csv": "labelled CSV, its texts", "tsv": "labelled TSV, its texts"}


def pretrain(config: PretrainConfig, console: Console | None = None) -> FinetuneResult:
    """Pretrain an encoder as a masked language model on ``config.text``, keep the epoch with the
    lowest dev masked-token loss (the last without dev text), save it to ``config.out`` as a
    transformers masked-LM checkpoint, and write ``train_log.json``."""
    return run_task(config, console or Console(), "pretrain",
                    lambda console, encoder: PretrainTask(config, console, encoder))


def describe(report: dict) -> str:
    """A dev report in a note: ``masked accuracy 0.4123, perplexity 18.52 (1,204 masked tokens)``."""
    return (f"masked accuracy {report['masked_accuracy']:.4f}, perplexity {report['perplexity']:.2f} "
            f"({report['masked_tokens']:,} masked tokens)")


class Texts:
    """Texts read into a ``TokenStore`` (None: none), as a task's data: ``len`` is the number of texts."""

    def __init__(self, store: TokenStore | None) -> None:
        self.store = store

    def __len__(self) -> int:
        return self.store.texts if self.store is not None else 0


#: where a run keeps its token stores (with its checkpoints: resumed with them, removed with them)
CORPUS_DIR = "corpus"


class PretrainTask(TaskRun):
    """Texts, a ``MaskedLM``, masked-token loss, accuracy and perplexity."""

    name = "mlm"

    def __init__(self, config: PretrainConfig, console: Console, encoder: Encoder | None = None) -> None:
        self.config, self.console = config, console
        self.auto: dict = {}
        for path in (*config.text, config.dev_text):  # before the output directory is made or anything read
            if path is not None:
                check_input_file(path)
        self.encoder = resolve_encoder(encoder or config.model)

    def _note_file(self, read: FileRead) -> None:
        how = _READ_AS.get(read.format, f"{read.format}, the words of each sentence")
        self.console.note(f"data: {read.path}: {read.texts:,} texts, {read.words:,} words (read as {how})")

    def load(self) -> tuple[Texts, Texts, None]:
        """The model first (a checkpoint that cannot be pretrained fails before any text is read),
        then every text streamed into the token stores."""
        c = self.config
        self.model = self._build_model()
        directory = Path(c.out) / CHECKPOINT_DIR / CORPUS_DIR / f"rank-{current().rank}"
        encoder = pretraining_encoder(self.model)
        made_from = {"files": [_identity(p) for p in c.text], "format": c.format, "max_length": c.max_length,
                     "tokenizer": _tokenizer_digest(self.model), "dev_fraction": c.held_out, "seed": c.seed,
                     "version": __version__}
        earlier = TokenStore.open(directory / "text" / "train")
        if earlier is not None and earlier.info == made_from:
            self.console.note(f"tokens: reading the token stores in {directory} (the same files, tokenizer and settings)")
        try:
            train, dev = corpus_stores(c.text, c.format, encoder, c.held_out, c.seed, directory / "text", made_from,
                                       self._note_file)
            if c.dev_text is not None:
                dev, _ = corpus_stores([c.dev_text], c.format, encoder, 0.0, c.seed, directory / "dev_text",
                                       {**made_from, "files": [_identity(c.dev_text)], "dev_fraction": 0.0},
                                       self._note_file)
        except BaseException:
            _remove_stores(directory)  # a run that failed on its input leaves no half-written store behind
            raise
        read = train.texts + (dev.texts if c.dev_text is None else 0)
        if c.dev_text is not None:
            self.console.note(f"data: pretrain on {train.texts:,} texts, dev {dev.texts:,} from {c.dev_text}")
        elif c.held_out > 0:
            if not train.texts:
                _remove_stores(directory)
                raise ConfigError(f"no texts left to pretrain on: the dev share took all {read} of them; give more "
                                  "text, a --dev-text FILE, or --dev-fraction 0")
            self.console.note(f"data: pretrain on {train.texts:,} texts, dev {dev.texts:,} held out ({c.held_out:.0%} by a "
                              f"hash of each text, seed {c.seed}); --dev-text FILE gives a dev file")
        else:
            self.console.note(f"data: pretrain on {train.texts:,} texts, no dev set (--dev-fraction 0: the last epoch is kept)")
        self.console.note(f"tokens: {len(train):,} windows, {train.tokens:,} sub-tokens to train on "
                          f"({size_text(train.nbytes)} in {directory})")
        return Texts(train), Texts(dev if len(dev) else None), None

    def _build_model(self) -> MaskedLM:
        c = self.config
        model = MaskedLM.from_encoder(self.encoder, max_length=c.max_length, seed=c.seed)
        self.rule = MaskingRule.for_tokenizer(model.tokenizer, model.vocab_size, c.mlm_probability, c.whole_word_mask,
                                              name=str(c.model or model.settings.encoder))
        head = ("its own masked-LM head" if model.settings.head == "pretrained" else
                "a new masked-LM head (dense + LayerNorm, decoder tied to the word embeddings; the checkpoint has none)")
        unit = "whole words" if c.whole_word_mask else "sub-tokens"
        softmax = ("over the token ids the text uses" if c.softmax == "corpus" and model.can_restrict_softmax() else
                   "over the whole vocabulary")
        self.console.note(f"model: {model.settings.encoder} ({model.settings.architecture}) + {head}; masking "
                          f"{c.mlm_probability:.0%} of {unit} (80% mask token, 10% random, 10% unchanged), "
                          f"windows of {c.max_length} sub-tokens, softmax {softmax}")
        return model

    def build(self) -> MaskedLM:
        return self.model

    def fit(self, model, train, dev, train_config, listener, checkpoints):
        def before(report: dict) -> None:
            self.console.note(f"dev before pretraining: {describe(report)}")

        result = fit_masked_lm(model, train.store, dev.store if dev else None, train_config, self.rule, listener,
                               checkpoints, before=before, softmax=self.config.softmax)
        if dev:
            where = f"epoch {result.best_epoch}" + (f", step {result.best_step}" if train_config.eval_every else "")
            self.console.note(f"dev after pretraining ({where}, the lowest dev loss): {describe(result.best_dev)}")
        return result

    def write_card(self, out, log: dict) -> Path:
        """A short ``README.md``: what the model is, what it was pretrained on, its dev scores, how to use it."""
        path = Path(out) / "README.md"
        atomic_write_text(model_card(Path(out), log), path)
        return path


def _identity(path: str) -> list:
    """What identifies an input file for reusing its token store: its path, size and modification time."""
    st = Path(path).stat()
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def _tokenizer_digest(model: MaskedLM) -> str:
    """A SHA-256 of the tokenizer's vocabulary and settings, as the fast tokenizer serialises them."""
    return hashlib.sha256(model.tokenizer.backend_tokenizer.to_str().encode("utf-8")).hexdigest()


def _remove_stores(directory: Path) -> None:
    """Remove a run's token stores, and the checkpoint directories above them that are left empty."""
    shutil.rmtree(directory, ignore_errors=True)
    for parent in (directory.parent, directory.parent.parent):
        try:
            parent.rmdir()
        except OSError:
            break


def model_card(out: Path, log: dict) -> str:
    """The model card of a pretraining run's directory, from its log."""
    name = display_name(out.resolve())
    model, config, train = log.get("model", {}), log.get("config", {}), log.get("train", {})
    files = ", ".join(Path(p).name for p in config.get("text", []))
    head = "its own masked-LM head" if model.get("head") == "pretrained" else "a new masked-LM head"
    unit = "whole words" if config.get("whole_word_mask") else "sub-tokens"
    rows = [("before pretraining", train.get("dev_before"))]
    rows += [(f"epoch {e['epoch']}" + (" (kept)" if e["epoch"] == train.get("best_epoch") else ""), e.get("dev"))
             for e in train.get("epochs", [])]
    table = [f"| {what} | {r['masked_accuracy']:.4f} | {r['perplexity']:.2f} |" for what, r in rows if r]
    scores = ("\n## Dev masked-token scores\n\n| weights | masked accuracy | perplexity |\n|---|---|---|\n"
              + "\n".join(table) + "\n") if table else "\nNo dev text was held out: the last epoch was kept.\n"
    base = base_model(log)
    front = f"base_model: {base}\n" if base else ""
    return (f"---\n{front}library_name: transformers\npipeline_tag: fill-mask\ntags:\n- entitune\n- fill-mask\n---\n\n# {name}\n\n"
            f"{name} is {model.get('encoder') or 'an encoder'} further pretrained as a masked language model by "
            f"`entitune pretrain` (entitune {model.get('version', '')}) on {log.get('data', {}).get('train', 0):,} "
            f"texts of {files}, with {head}: {config.get('mlm_probability', 0.15):.0%} of {unit} masked, windows of "
            f"{config.get('max_length')} sub-tokens, {config.get('epochs')} epochs at learning rate {config.get('lr')}.\n"
            f"{scores}\n## Use\n\nFine-tune it: `entitune train --model {name} --train ...`. transformers loads it as "
            f"`AutoModelForMaskedLM` (the fill-mask pipeline) and as `AutoModel` (the encoder).\n")
