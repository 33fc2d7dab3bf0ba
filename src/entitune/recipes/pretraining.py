"""``pretrain``: masked-LM domain pretraining (``entitune pretrain``), callable from Python with the
same result.

The third task on the run every training verb shares (``finetune.run_task``: the locked output
directory, resume, logs, checkpoints, processes, precision, the one loop, ``train_log.json``).
What it adds (``PretrainTask``): the texts of every ``--text`` file (``data.corpus``: plain text or
any annotated file, as words), a dev set (a file, or a seeded share of the texts), the
``MaskedLM`` and its masking rule, ``train.fit_masked_lm`` (the dev scores of the starting weights
first), and a short model card. The directory it saves is a transformers masked-LM checkpoint that
``entitune train --model DIR`` fine-tunes.
"""
from __future__ import annotations

from pathlib import Path

from ..data import split_dev
from ..data.corpus import read_corpus
from ..artifact.card import base_model
from ..artifact.hub import Encoder, resolve_encoder
from ..encode import MaskingRule
from ..errors import ConfigError
from ..files import atomic_write_text, check_input_file, display_name
from ..model.masked_lm import MaskedLM
from ..train import fit_masked_lm
from ..terminal import Console
from .training import FinetuneResult, run_task
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

    def _read(self, path: str) -> list[tuple[str, ...]]:
        corpus = read_corpus(path, self.config.format)
        how = _READ_AS.get(corpus.format, f"{corpus.format}, the words of each sentence")
        self.console.note(f"data: {path}: {len(corpus.texts):,} texts, {corpus.words:,} words (read as {how})")
        return corpus.texts

    def load(self) -> tuple[list, list, None]:
        c = self.config
        texts = [t for path in c.text for t in self._read(path)]
        if c.dev_text is not None:
            dev = self._read(c.dev_text)
            self.console.note(f"data: pretrain on {len(texts):,} texts, dev {len(dev):,} from {c.dev_text}")
        elif c.held_out > 0:
            read = len(texts)
            texts, dev = split_dev(texts, c.held_out, c.seed)
            if not texts:
                raise ConfigError(f"no texts left to pretrain on: the dev share took all {read} of them; give more "
                                  "text, a --dev-text FILE, or --dev-fraction 0")
            self.console.note(f"data: pretrain on {len(texts):,} texts, dev {len(dev):,} held out ({c.held_out:.0%}, "
                              f"seed {c.seed}); --dev-text FILE gives a dev file")
        else:
            dev = []
            self.console.note(f"data: pretrain on {len(texts):,} texts, no dev set (--dev-fraction 0: the last epoch is kept)")
        return texts, dev, None

    def build(self) -> MaskedLM:
        c = self.config
        model = MaskedLM.from_encoder(self.encoder, max_length=c.max_length, seed=c.seed)
        self.rule = MaskingRule.for_tokenizer(model.tokenizer, model.vocab_size, c.mlm_probability, c.whole_word_mask,
                                              name=str(c.model or model.settings.encoder))
        head = ("its own masked-LM head" if model.settings.head == "pretrained" else
                "a new masked-LM head (dense + LayerNorm, decoder tied to the word embeddings; the checkpoint has none)")
        unit = "whole words" if c.whole_word_mask else "sub-tokens"
        self.console.note(f"model: {model.settings.encoder} ({model.settings.architecture}) + {head}; masking "
                          f"{c.mlm_probability:.0%} of {unit} (80% mask token, 10% random, 10% unchanged), "
                          f"windows of {c.max_length} sub-tokens")
        return model

    def fit(self, model, train, dev, train_config, listener, checkpoints):
        def before(report: dict) -> None:
            self.console.note(f"dev before pretraining: {describe(report)}")

        result = fit_masked_lm(model, train, dev or None, train_config, self.rule, listener, checkpoints, before=before)
        if dev:
            where = f"epoch {result.best_epoch}" + (f", step {result.best_step}" if train_config.eval_every else "")
            self.console.note(f"dev after pretraining ({where}, the lowest dev loss): {describe(result.best_dev)}")
        return result

    def write_card(self, out, log: dict) -> Path:
        """A short ``README.md``: what the model is, what it was pretrained on, its dev scores, how to use it."""
        path = Path(out) / "README.md"
        atomic_write_text(model_card(Path(out), log), path)
        return path


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
