"""``MaskedLM``: an encoder with a masked-language-model head, for domain pretraining.

Built as transformers' ``AutoModelForMaskedLM`` of the checkpoint's model type (``BertForMaskedLM``
for BERT), so the weights keep transformers' names and the saved directory loads with
``AutoModelForMaskedLM`` (the whole model) and ``AutoModel`` (the encoder: what ``entitune train
--model DIR`` reads). The module holds the two parts the training loop trains: ``encoder`` (the base
model) and ``head`` (everything else: BERT's ``cls.predictions``).

The head is the checkpoint's own when its weights hold one (BERT's ``cls.predictions.*``); else a
new head as transformers defines it for the model type (BERT: dense + activation + LayerNorm, then a
decoder tied to the input word embeddings, zero bias), initialised from the seed. A checkpoint with
no head whose config unties the output embeddings (``tie_word_embeddings`` false) is refused in one
line: the new decoder (vocabulary x hidden) would start from random numbers and cost more to learn
than the pretraining gives back. The pooler of a checkpoint that has one (a masked LM does not use
it) is saved unchanged, so a classifier fine-tuned from the result still gets it.

The loss and the dev scores run the head only at the masked positions (about 15% of them): the
vocabulary projection at every position would cost as much as the whole MiniLM encoder. Checked
against transformers' own forward when the model is built; a model type whose head is not the
base model's output run through its other modules in order uses transformers' forward instead.

``softmax_over(ids)``: within the block the softmax runs over the given token ids only (those a
corpus uses), the tied decoder reading just their rows: the projection and its gradient cost that
many rows instead of the whole vocabulary, and every other row of the word embedding is left as it
was, so the training loop can train the embedding compactly (``train.compact``). When the input
embedding is such a compact table over the same ids, the decoder reads its trained rows.
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import io
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .._version import __version__
from ..encode import IGNORE, WordEncoder
from ..errors import ConfigError, not_a_model, one_line
from ..artifact import model_dir
from ..artifact.hub import Encoder, resolve_encoder
from .classifier import pretrained_pooler

#: the head of a model: the checkpoint's own, or new
HEAD_KINDS = ("pretrained", "new")


@dataclass(frozen=True)
class MaskedLMSettings:
    """What a pretraining run records about its model: the encoder it started from (name and
    SHA-256 of its weights), whether the head was the checkpoint's or new, the transformers class,
    and the window length."""

    encoder: str = ""
    encoder_sha256: str = ""
    head: str = "pretrained"
    architecture: str = ""
    max_length: int = 128
    task: str = "mlm"
    version: str = field(default=__version__)


class MaskedLM(nn.Module):
    """Encoder + masked-LM head (see the module docstring); build with ``MaskedLM.from_encoder(dir)``.

    ``batch_loss`` / ``loss_weight`` are what the training loop needs: the mean cross-entropy over
    the masked positions (``labels`` != -100) of a batch, and how many there are.
    """

    task = "mlm"

    def __init__(self, hf_model: nn.Module, tokenizer, settings: MaskedLMSettings,
                 kept: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        self.encoder = hf_model.base_model
        self.head = nn.ModuleDict({n: m for n, m in hf_model.named_children() if m is not self.encoder})
        # transformers' model itself stays outside the module tree: its parameters are the encoder's
        # and the head's (registered above), and it is used only for its config, names and forward
        self.__dict__["hf_model"] = hf_model
        self.tokenizer = tokenizer
        self.settings = settings
        self.kept = dict(kept or {})  # tensors saved unchanged (the pooler)
        self.word_encoder = WordEncoder(tokenizer, settings.max_length, stride=0)
        self._token_types = "token_type_ids" in inspect.signature(self.encoder.forward).parameters
        self._head_at_positions = self._head_runs_on_hidden_states()
        self._label_ids: torch.Tensor | None = None  # within softmax_over: vocabulary id -> its place in the ids

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    @property
    def vocab_size(self) -> int:
        return self.hf_model.get_output_embeddings().weight.shape[0]

    @property
    def tied(self) -> bool:
        """True when the output projection is the input word embedding (one tensor)."""
        return self.hf_model.get_output_embeddings().weight is self.encoder.get_input_embeddings().weight

    # ------------------------------------------------------------------ forward
    def _encoder_kwargs(self, batch: dict[str, torch.Tensor]) -> dict:
        kwargs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        if self._token_types and "token_type_ids" in batch:
            kwargs["token_type_ids"] = batch["token_type_ids"]
        return kwargs

    def _run_head(self, hidden: torch.Tensor) -> torch.Tensor:
        for module in self.head.values():
            if not isinstance(module, nn.modules.loss._Loss):  # some keep their loss function as a child
                hidden = module(hidden)
        return hidden

    def masked_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Vocabulary scores (masked, vocab) at the masked positions of a batch, and their labels (masked,)."""
        selected = batch["labels"] != IGNORE  # shape: (batch, seq)
        if self._head_at_positions:
            hidden = self.encoder(**self._encoder_kwargs(batch)).last_hidden_state
            labels = batch["labels"][selected]
            if self._label_ids is not None:
                labels = self._label_ids[labels]
            return self._run_head(hidden[selected]), labels
        logits = self.hf_model(**self._encoder_kwargs(batch)).logits
        return logits[selected], batch["labels"][selected]

    def batch_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy over the masked positions (0 when there are none)."""
        logits, labels = self.masked_logits(batch)
        return F.cross_entropy(logits.float(), labels, reduction="sum") / max(1, labels.numel())

    def loss_weight(self, batch: dict[str, torch.Tensor]) -> float:
        return float((batch["labels"] != IGNORE).sum())

    @torch.no_grad()
    def masked_scores(self, batch: dict[str, torch.Tensor]) -> tuple[float, int, int]:
        """Summed cross-entropy, correct top-1 predictions and count over a batch's masked positions."""
        logits, labels = self.masked_logits(batch)
        loss = F.cross_entropy(logits.float(), labels, reduction="sum")
        return float(loss), int((logits.argmax(-1) == labels).sum()), int(labels.numel())

    def can_restrict_softmax(self) -> bool:
        """Whether ``softmax_over`` works for this model: its head runs at the masked positions and
        its decoder is a linear layer tied to the word embeddings."""
        return (self._head_at_positions and self.tied and isinstance(self.hf_model.get_output_embeddings(), nn.Linear)
                and _parent_of(self.hf_model, self.hf_model.get_output_embeddings()) is not None)

    @contextlib.contextmanager
    def softmax_over(self, ids: torch.Tensor):
        """Within the block the masked-token softmax runs over ``ids`` (sorted, 1-D long; every label
        the batches hold among them) and ``masked_logits`` gives (masked, len(ids)) scores with labels
        as places in ``ids``. The model's parameters and their names stay as they are; the decoder
        comes back on exit. A ``ConfigError`` where ``can_restrict_softmax`` is False."""
        if not self.can_restrict_softmax():
            raise ConfigError(f"{self.settings.encoder}: its masked-LM head is not a decoder tied to the word embeddings "
                              "run at the masked positions, so its softmax cannot be restricted; use the full vocabulary")
        decoder = self.hf_model.get_output_embeddings()
        parent, name = _parent_of(self.hf_model, decoder)
        device = decoder.weight.device
        ids = torch.as_tensor(ids, dtype=torch.long).to(device)
        label_ids = torch.full((decoder.weight.shape[0],), IGNORE, dtype=torch.long, device=device)
        label_ids[ids] = torch.arange(len(ids), device=device)
        setattr(parent, name, _RestrictedDecoder(decoder, ids, self.encoder.get_input_embeddings))
        self._label_ids = label_ids
        try:
            yield
        finally:
            setattr(parent, name, decoder)
            self._label_ids = None

    @torch.no_grad()
    def _head_runs_on_hidden_states(self) -> bool:
        """Whether the head's modules, run in order on the encoder's last layer, give transformers'
        own logits (checked on a probe in eval mode); else ``masked_logits`` takes transformers' forward."""
        was_training = self.training
        self.eval()
        try:
            ids = [i for i in range(min(self.vocab_size, 50)) if i not in set(self.tokenizer.all_special_ids)][:6]
            batch = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
                     "token_type_ids": torch.zeros(1, len(ids), dtype=torch.long)}
            device = next(self.parameters()).device
            batch = {k: v.to(device) for k, v in batch.items()}
            full = self.hf_model(**self._encoder_kwargs(batch)).logits
            mine = self._run_head(self.encoder(**self._encoder_kwargs(batch)).last_hidden_state)
            return full.shape == mine.shape and torch.allclose(full, mine, atol=1e-5, rtol=1e-4)
        except (TypeError, RuntimeError, ValueError, AttributeError):
            return False
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------ files
    def save(self, directory: str | Path) -> Path:
        """Write a transformers masked-LM checkpoint: ``config.json`` (with the architecture),
        ``model.safetensors`` (encoder, head and the kept pooler; a tied decoder once, under the
        embedding's name, as transformers saves it) and the tokenizer files."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        config = copy.deepcopy(self.hf_model.config)
        config.architectures = [type(self.hf_model).__name__]
        if hasattr(config, model_dir.REFUSAL_KEY):
            delattr(config, model_dir.REFUSAL_KEY)
        config.save_pretrained(str(path))
        self.tokenizer.save_pretrained(str(path))
        state: dict[str, torch.Tensor] = {}
        seen: set[int] = set()
        for name, tensor in self.hf_model.state_dict(keep_vars=True).items():
            if id(tensor) in seen:  # tied: the first name (the embedding, predictions.bias) holds it
                continue
            seen.add(id(tensor))
            state[name] = tensor
        state.update(self.kept)
        model_dir.save_safetensors(state, path / model_dir.WEIGHTS_FILE)
        return path

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_encoder(cls, encoder_dir: str | Path | Encoder | None, max_length: int = 128, seed: int = 42) -> "MaskedLM":
        """The masked LM of an encoder, a local checkpoint directory or a Hugging Face Hub name
        ``ORG/NAME[@REVISION]`` (``hub.resolve_encoder``; default: the bundled MiniLM): its own head when its
        weights have one, else a new head drawn from ``seed`` (see the module docstring)."""
        encoder = resolve_encoder(encoder_dir)
        path = encoder.directory
        config = model_dir.load_hf_config(path)
        if getattr(config, model_dir.REFUSAL_KEY, None) is not None:  # an entitune model as the start: its encoder
            config = copy.deepcopy(config)
            delattr(config, model_dir.REFUSAL_KEY)
        tokenizer = model_dir.load_tokenizer(path, config.model_type)
        if tokenizer.mask_token_id is None:
            raise not_a_model(path, "its tokenizer has no mask token, so it cannot be pretrained as a masked language "
                                    "model; give a checkpoint whose tokenizer has one (BERT's [MASK], RoBERTa's <mask>)")
        hf_model, info = _load_masked_lm(path, config)
        head = _head_kind(path, hf_model, info)
        if head == "new":
            _init_new_head(hf_model, seed)
        name, sha256 = encoder.identity()
        settings = MaskedLMSettings(encoder=name, encoder_sha256=sha256, head=head,
                                    architecture=type(hf_model).__name__, max_length=max_length)
        pooler = pretrained_pooler(path)
        prefix = hf_model.base_model_prefix
        kept = {f"{prefix}.pooler.dense.{k}": v for k, v in pooler.items()} if pooler is not None else {}
        kept = {k: v for k, v in kept.items() if k not in hf_model.state_dict()}
        return cls(hf_model, tokenizer, settings, kept)


class _RestrictedDecoder(nn.Module):
    """Stands in for a tied decoder within ``MaskedLM.softmax_over``: scores only the rows ``ids``
    of the word embedding (and of the decoder's bias). It registers no parameter (the weight is the
    embedding's, the bias the head's), so the model's parameters and state keys do not change but for
    the decoder's own two names. Where the input embedding is a compact table over the same ids
    (``train.compact``: ``ids`` and its trained ``compact_rows``, row 0 a placeholder), those trained
    rows are read, so that the input and output sides stay one tensor."""

    def __init__(self, decoder: nn.Linear, ids: torch.Tensor, input_embedding) -> None:
        super().__init__()
        self.__dict__["decoder"] = decoder
        self.__dict__["input_embedding"] = input_embedding
        self.ids = ids

    @property
    def weight(self) -> torch.Tensor:
        return self.decoder.weight

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """(masked, hidden) -> (masked, len(ids)) scores."""
        embedding = self.input_embedding()
        compact_ids, rows = getattr(embedding, "ids", None), getattr(embedding, "compact_rows", None)
        if rows is not None and compact_ids is not None and (compact_ids is self.ids or (
                len(compact_ids) == len(self.ids) and bool(torch.equal(compact_ids, self.ids)))):
            self.ids = compact_ids  # the same ids: compared once
            weight = rows[1:]
        else:
            weight = self.decoder.weight[self.ids]
        bias = self.decoder.bias[self.ids] if self.decoder.bias is not None else None
        return F.linear(hidden, weight, bias)


def _parent_of(root: nn.Module, child: nn.Module) -> tuple[nn.Module, str] | None:
    """The module holding ``child`` as a direct child, and its name there (None: nowhere)."""
    for module in root.modules():
        for name, c in module.named_children():
            if c is child:
                return module, name
    return None


def _load_masked_lm(path: Path, config) -> tuple[nn.Module, dict]:
    """transformers' masked LM of ``config``'s model type with the checkpoint's weights, and its
    loading report (missing and unexpected weights)."""
    from safetensors import SafetensorError
    from transformers import AutoModelForMaskedLM

    model_dir.quiet_transformers()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # transformers prints load reports to stdout
            return AutoModelForMaskedLM.from_pretrained(str(path), config=config, use_safetensors=True,
                                                        local_files_only=True, trust_remote_code=False,
                                                        output_loading_info=True)
    except (SafetensorError, OSError) as exc:
        raise ConfigError(f"{path / model_dir.WEIGHTS_FILE}: cannot read these weights ({one_line(exc)})") from None
    except ValueError as exc:  # a model type with no masked-LM class
        raise not_a_model(path, f"transformers has no masked language model for model type {config.model_type!r} "
                                f"({one_line(exc, 160)})") from None


def _head_kind(path: Path, hf_model: nn.Module, info: dict) -> str:
    """``pretrained`` when the checkpoint held every head weight, ``new`` when it held none (and
    the decoder is tied to the word embeddings); anything else is a one-line ``not_a_model``."""
    prefix = hf_model.base_model_prefix + "."
    first_name: dict[int, str] = {}
    for name, tensor in hf_model.state_dict(keep_vars=True).items():
        first_name.setdefault(id(tensor), name)
    # a tied weight (the decoder, its bias) is another name for a tensor that comes first
    own = {name for name, tensor in hf_model.state_dict(keep_vars=True).items() if first_name[id(tensor)] == name}
    head_keys = {k for k in own if not k.startswith(prefix)}
    missing = set(info.get("missing_keys") or ())
    encoder_missing = sorted(k for k in missing & own if k.startswith(prefix) and not k.endswith("position_ids"))
    if encoder_missing:
        raise not_a_model(path, f"its weights lack part of the encoder ({', '.join(encoder_missing[:3])}...)")
    head_missing = head_keys & missing
    if not head_missing:
        return "pretrained"
    if head_missing != head_keys:
        raise not_a_model(path, f"its weights hold part of a masked-LM head (missing {', '.join(sorted(head_missing)[:3])}); "
                                "give a checkpoint with the whole head or none")
    if hf_model.get_output_embeddings().weight is not hf_model.get_input_embeddings().weight:
        raise not_a_model(path, "has no masked-LM head and its config.json sets tie_word_embeddings to false, so a new "
                                "head's decoder could not share the word embeddings and would start from random numbers; "
                                "give a checkpoint with a masked-LM head, or a copy whose config.json ties them")
    return "new"


@torch.no_grad()
def _init_new_head(hf_model: nn.Module, seed: int) -> None:
    """A new head from ``seed``: Linear weights normal with the encoder's ``initializer_range``
    (the tied decoder keeps the embedding), biases zero, LayerNorm weight one and bias zero."""
    generator = torch.Generator().manual_seed(seed)
    std = getattr(hf_model.config, "initializer_range", 0.02)
    embedding = hf_model.get_input_embeddings().weight
    head = [m for n, m in hf_model.named_children() if m is not hf_model.base_model]
    for part in head:
        norms = [m for m in part.modules() if isinstance(m, nn.LayerNorm)]
        in_norms = {id(p) for m in norms for p in m.parameters()}
        for m in norms:
            if m.weight is not None:
                m.weight.fill_(1.0)
            if m.bias is not None:
                m.bias.zero_()
        for p in part.parameters():
            if p is embedding or id(p) in in_norms:
                continue
            if p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=generator) * std)
            else:
                p.zero_()
