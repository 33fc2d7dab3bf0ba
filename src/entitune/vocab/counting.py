"""Word counts of a corpus in bounded memory (``BoundedCounter``).

A corpus of millions of texts has millions of distinct words (200,000 Korean movie reviews: 379,598
distinct whitespace words in 2.2 million), most of them seen once, and a ``Counter`` of every one
grows without bound. ``BoundedCounter`` keeps at most ``capacity`` distinct words with the
Misra-Gries rule: when the table overflows, every count is lowered by the same amount (the median
count of the table) and the words whose count reaches zero are dropped. What it guarantees, for a
corpus of any size and order: every kept count is at most ``error`` (the sum of the amounts
subtracted) below the word's true count, and every word seen more than ``error`` times is kept.
Below capacity the counts are exact (``error`` 0). Vocabulary candidates need the frequent words
and their counts; the rare ones pruned would not be chosen anyway.

Written by hand: the summary is twenty lines, and the maintained sketch libraries (Apache
DataSketches' frequent-items sketch) would add a compiled dependency to ``vocab plan``, which is
pure Python, for what a dict does here.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


class BoundedCounter:
    """Counts of at most ``capacity`` distinct words (see the module docstring).

    >>> c = BoundedCounter(capacity=4)
    >>> c.update("a a a a b b c d e".split())
    >>> c.counts["a"] >= 4 - c.error, c.error, len(c.counts) <= 4
    (True, 1, True)
    """

    def __init__(self, capacity: int = 1_000_000) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be at least 2 words, got {capacity}")
        self.capacity = capacity
        self.counts: Counter = Counter()
        self.error = 0  # the most any kept count is below the true one
        self.total = 0  # words seen

    def update(self, words: Iterable[str]) -> None:
        """Count ``words`` (a text's words, or any iterable of them)."""
        counts = self.counts
        for word in words:
            counts[word] += 1
            self.total += 1
            if len(counts) > self.capacity:
                self._prune()
                counts = self.counts

    def _prune(self) -> None:
        """Lower every count by the table's median count and drop the words at zero or below."""
        values = sorted(self.counts.values())
        cut = max(1, values[len(values) // 2])
        self.error += cut
        self.counts = Counter({w: n - cut for w, n in self.counts.items() if n > cut})

    @property
    def exact(self) -> bool:
        """True while no count was lowered: the counts are the corpus's own."""
        return self.error == 0
