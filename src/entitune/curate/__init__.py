"""Reports on data, before and beside training: ``doctor`` (counts, invalid tag sequences, sub-word
lengths, [UNK] share, labels missing from train, duplicates)."""
from .doctor import diagnose, diagnose_texts, format_doctor, format_text_doctor, word_encoder_for

__all__ = ["diagnose", "diagnose_texts", "format_doctor", "format_text_doctor", "word_encoder_for"]
