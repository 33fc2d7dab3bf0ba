"""Data in and out: one reader per format (generators raising ``DataFormatError(path, line, why)``),
format sniffing, writers, loading into IOB2 with scheme detection, seeded splits, mention
replacement (``augment``), raw text -> words, labelled texts for classification (``texts``) and which task a file is for (``task``).
No torch here.

>>> from entitune.data import split_words
>>> [w for w, _, _ in split_words("Drew Barrymore's films")]
['Drew', "Barrymore's", 'films']
"""
from ._lines import iter_lines, iter_stream_lines
from .augment import mention_pool, replace_mentions
from .chars import read_klue, read_kmou, read_weibo
from .columns import read_bio, read_conll
from .gmb import read_gmb
from .jsonl import read_jsonl, sentence_entities, spans_to_words, write_jsonl
from .load import Dataset, load_annotated
from .read import FORMATS, READERS, read_sentences
from .sniff import sniff_format
from .task import TASKS, sniff_task
from .split import split_dev, split_three
from .text import join_words, split_words
from .texts import TEXT_FORMATS, TextDataset, read_texts, sniff_text_format
from .write import WRITE_FORMATS, write_bio, write_conll, write_sentences

__all__ = [
    "FORMATS", "READERS", "TASKS", "TEXT_FORMATS", "WRITE_FORMATS", "Dataset", "TextDataset", "read_texts",
    "sniff_task", "sniff_text_format", "iter_lines", "iter_stream_lines", "join_words", "load_annotated", "read_bio", "read_conll",
    "mention_pool", "read_gmb", "read_jsonl", "read_klue", "read_kmou", "read_sentences", "read_weibo",
    "replace_mentions", "sentence_entities",
    "sniff_format", "split_dev", "split_three", "split_words", "spans_to_words", "write_bio", "write_conll",
    "write_jsonl", "write_sentences",
]
