"""What a request costs before it is queued: each input's sub-words (the model's tokens), counted by
the model's own tokenizer (``SubwordCounter``), and ``request_costs``, which counts a request and
refuses it as soon as the count passes the per-request maximum (413) or what the service can take
on now (the batcher's ``Busy``, 503), without counting the rest.

Why sub-words: the model's work grows with them (every window of ``max_length`` sub-words is one
forward pass), not with bytes or characters: a 20,000-character text of rare words or symbols is
many times the work of one of common words. Counting is cheap next to predicting (one pass of the
Rust tokenizer over the text, without the model), so it is done for every request. A request of
more than ``INLINE_CHARS`` characters is counted on a thread of its own (``request_costs``'
executor), in groups of about ``GROUP_CHARS`` characters, so the event loop keeps answering while a
large request is counted, and a request far over a limit is refused after its first groups.

The counter runs its own copy of the tokenizer (``tokenizers.Tokenizer``, from the model's
``backend_tokenizer``, truncation and padding off): the predictor's tokenizer is in use on the
prediction threads at the same time, and a ``tokenizers`` object cannot be shared across threads
while transformers changes its settings. A predictor without a tokenizer (a test double) has each
input cost its words.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from typing import Any

from ..data.text import split_words
from .limits import RequestLimitError, input_chars

_log = logging.getLogger("entitune.serve")

#: a request with at most this many characters is counted on the event loop (microseconds)
INLINE_CHARS = 4_096
#: characters counted in one go on the counting thread (about 20 ms)
GROUP_CHARS = 65_536


class SubwordCounter:
    """``counter(inputs)``: each input's sub-words (at least 1), for a batch of raw texts or of
    pre-split word lists; by ``tokenizer`` (a transformers fast tokenizer or ``FastTokenizer``,
    anything with ``backend_tokenizer``), or by words when there is none."""

    def __init__(self, tokenizer: Any = None) -> None:
        self._tokenizer = None
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            try:
                from tokenizers import Tokenizer

                own = Tokenizer.from_str(backend.to_str())
                own.no_truncation()
                own.no_padding()
                self._tokenizer = own
            except Exception as exc:  # noqa: BLE001 - tokenizers raises its own untyped errors
                _log.warning("cannot copy the model's tokenizer to count sub-words (%s); requests are costed by "
                             "their words", type(exc).__name__)

    @classmethod
    def for_predictor(cls, predictor: Any) -> "SubwordCounter":
        """The counter of a predictor's model (``predictor.scorer.tokenizer``: a PyTorch model's and an
        ONNX export's alike)."""
        return cls(getattr(getattr(predictor, "scorer", None), "tokenizer", None))

    @property
    def by_tokenizer(self) -> bool:
        return self._tokenizer is not None

    def __call__(self, inputs: Sequence[str | Sequence[str]]) -> list[int]:
        if not inputs:
            return []
        if self._tokenizer is None:
            return [max(len(split_words(i) if isinstance(i, str) else i), 1) for i in inputs]
        split = not isinstance(inputs[0], str)
        batch = [list(i) or [""] for i in inputs] if split else list(inputs)
        encodings = self._tokenizer.encode_batch(batch, is_pretokenized=split, add_special_tokens=False)
        return [max(len(e.ids), 1) for e in encodings]


def _groups(inputs: Sequence, limit: int) -> Iterator[Sequence]:
    """``inputs`` in runs of about ``limit`` characters (one input at least)."""
    start, chars = 0, 0
    for i, item in enumerate(inputs):
        chars += input_chars(item)
        if chars >= limit:
            yield inputs[start:i + 1]
            start, chars = i + 1, 0
    if start < len(inputs):
        yield inputs[start:]


async def request_costs(inputs: Sequence[str | Sequence[str]], count: Callable[[Sequence], list[int]],
                        executor: Executor | None, max_subwords: int, admit: Callable[[int], None]) -> list[int]:
    """Each input's sub-words, counted by ``count`` (on ``executor`` for a large request, group by
    group). Raises ``RequestLimitError`` (413) once the count passes ``max_subwords``, and whatever
    ``admit(count so far)`` raises (the batcher's ``Busy``) once the service cannot take that much,
    without counting the rest."""
    def check(costs: list[int]) -> None:
        total = sum(costs)
        if total > max_subwords:
            least = "at least " if len(costs) < len(inputs) else ""
            raise RequestLimitError(f"request too large: {least}{total} sub-words (the model's tokens), the maximum is "
                                    f"{max_subwords} per request (--max-request-subwords); send its inputs in several "
                                    "requests", status=413)
        admit(total)

    if executor is None or sum(input_chars(i) for i in inputs) <= INLINE_CHARS:
        costs = count(inputs)
        check(costs)
        return costs
    loop = asyncio.get_running_loop()
    costs = []
    for group in _groups(inputs, GROUP_CHARS):
        costs += await loop.run_in_executor(executor, count, group)
        check(costs)
    return costs
