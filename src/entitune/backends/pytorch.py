"""``TorchScorer``: a PyTorch model (``Tagger`` or ``Classifier``) as a ``Scorer``, with the lean BERT
forward (``fastbert``) where it applies (a plain float32 BERT, fine-tuned, on the CPU); the model's
own forward elsewhere. Word features (``--word-features``) are the model's own module on either
path: the lean forward replaces only the encoder."""
from __future__ import annotations

import torch

from ..errors import check_choice
from ..model.encoder_model import EncoderModel, gather_words
from ..predict.scorer import HeadScorer
from .fastbert import BertFastPath
from .precision import INFERENCE_PRECISIONS, Width, choose_precision


class TorchScorer(HeadScorer):
    """Scores windows with a PyTorch model; puts it in eval mode.

    Args:
        tagger: the model (a ``Tagger`` or a ``Classifier``). With ``fast`` (default) and a model the lean forward supports, its
            weights are copied and packed now: build a new scorer after the weights change (the
            training loop makes one per evaluation).
        fast: use the lean forward where it applies; False always runs the model's forward.
        precision: ``fp32``, ``bf16`` or ``auto`` (``precision.choose_precision`` for inference on
            the model's device: bf16 where a timed probe of this forward agrees, on a CPU with
            avx512_bf16 or AMX or a GPU with bf16 tensor cores). bf16 runs the lean forward with its
            matmuls in bf16 where it applies (``BertFastPath(dtype=bf16)``; LayerNorms, softmax
            and the residual stream stay float32), else the model's own forward under autocast.
            ``choice`` says what was chosen and why.
    """

    streams = 1

    def __init__(self, tagger: EncoderModel, fast: bool = True, precision: str = "fp32") -> None:
        self.tagger = tagger.eval()
        self.settings = tagger.settings
        self.tokenizer = tagger.tokenizer
        self.head = tagger.head
        self.word_encoder = tagger.word_encoder
        self.device = next(tagger.parameters()).device
        check_choice("precision", precision, INFERENCE_PRECISIONS)
        config = getattr(tagger.encoder, "config", None)
        applies = (fast and not tagger.frozen and self.device.type == "cpu" and BertFastPath.supports(tagger.encoder))
        # the inference probe times the lean forward; where that does not apply (a GPU, another
        # encoder), autocast over the model's own forward runs, which the training probe times
        self.choice = choose_precision(precision, self.device, width=Width.of(config) if config is not None else None,
                                       purpose="inference" if applies else "train")
        bf16 = self.choice.precision == "bf16"
        self.fast = BertFastPath(tagger.encoder, torch.bfloat16 if bf16 else torch.float32) if applies else None
        self.autocast = torch.bfloat16 if bf16 and self.fast is None else None

    @torch.inference_mode()
    def score_windows(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scores of a collated batch of windows (``encode.collate``), as float32 on the CPU: the
        head's output, (batch, words, labels) for a tagger, (batch, labels) for a classifier.
        Enters inference mode itself, which matters on worker threads."""
        batch = {k: v.to(self.device) for k, v in batch.items()}
        if self.fast is not None:
            # shape: (batch, seq, hidden)
            hidden = self.fast(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
            words = self.tagger.add_word_features(gather_words(hidden, batch["word_starts"]), batch)
            return self.head(words, batch["word_mask"]).float().cpu()
        with torch.autocast(self.device.type, dtype=self.autocast or torch.float32, enabled=self.autocast is not None):
            words = self.tagger.encode_words(batch["input_ids"], batch["attention_mask"], batch["word_starts"],
                                             batch["token_type_ids"])
        # the word features and the head in float32 (bf16 only inside the encoder)
        words = self.tagger.add_word_features(words.float(), batch)
        return self.head(words, batch["word_mask"]).float().cpu()
