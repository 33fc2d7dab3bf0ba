"""Reports on data and what to do about it: ``doctor`` (counts, invalid tag sequences, sub-word
lengths, [UNK] share, labels missing from train, duplicates), ``audit`` (likely annotation errors
ranked by cleanlab over a model's out-of-fold probabilities, and the corrected copy after review:
``fix``), ``select`` (which unlabelled inputs to annotate next: uncertainty, diversity, a cap per
document) with ``pool`` (what it picks from), ``labelstudio`` (pre-annotated tasks) and
``probabilities`` (what a saved model says about each word and text)."""
from .doctor import diagnose, diagnose_texts, format_doctor, format_text_doctor, word_encoder_for

__all__ = ["diagnose", "diagnose_texts", "format_doctor", "format_text_doctor", "word_encoder_for"]
