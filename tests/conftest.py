"""Shared fixtures: a tiny random BERT with its own WordPiece vocab, tiny labelled data, and the
location of the real datasets (../shared/data, or $ENTITUNE_DATA)."""
from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# timings on a shared 2-core machine vary too much for per-example deadlines
settings.register_profile("entitune", deadline=None, derandomize=True)
settings.load_profile("entitune")

REPO = Path(__file__).resolve().parents[1]
WORDS = ["show", "me", "films", "with", "drew", "barrymore", "from", "the", "1980s", "what", "movies",
         "star", "bruce", "willis", "directed", "by", "steven", "spielberg", "in", "paris", "a", "of"]
TINY_SENTENCES = [
    (["show", "me", "films", "with", "drew", "barrymore"], ["O", "O", "O", "O", "B-ACTOR", "I-ACTOR"]),
    (["what", "movies", "star", "bruce", "willis"], ["O", "O", "O", "B-ACTOR", "I-ACTOR"]),
    (["films", "directed", "by", "steven", "spielberg"], ["O", "O", "O", "B-DIRECTOR", "I-DIRECTOR"]),
    (["movies", "from", "the", "1980s"], ["O", "O", "O", "B-YEAR"]),
    (["films", "in", "paris"], ["O", "O", "B-PLOT"]),
    (["drew", "barrymore", "movies", "of", "the", "1980s"], ["B-ACTOR", "I-ACTOR", "O", "O", "O", "B-YEAR"]),
]


def data_dir() -> Path:
    """Real datasets: $ENTITUNE_DATA, else ../shared/data beside the repository."""
    return Path(os.environ.get("ENTITUNE_DATA", REPO.parent / "shared" / "data"))


def require_data(*parts: str) -> Path:
    """Path to a real data file; in CI (CI=true) a missing file fails, elsewhere it skips."""
    path = data_dir().joinpath(*parts)
    if not path.exists():
        message = f"real data not found: {path} (set ENTITUNE_DATA)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def write_bio(path: Path, sentences) -> Path:
    path.write_text("".join("".join(f"{t}\t{w}\n" for w, t in zip(ws, ts)) + "\n" for ws, ts in sentences))
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A random 2-layer BERT (hidden 32) with a WordPiece vocab of the test words and characters."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory = tmp_path_factory.mktemp("tiny-bert")
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *chars, *[f"##{c}" for c in chars]]
    tokenizer = BertTokenizerFast(vocab={tok: i for i, tok in enumerate(dict.fromkeys(vocab))}, do_lower_case=True)
    tokenizer.save_pretrained(str(directory))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(dict.fromkeys(vocab)), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512)
    BertModel(config).save_pretrained(str(directory), safe_serialization=True)
    return directory


@pytest.fixture(scope="session")
def tiny_tagger_dir(tiny_bert, tmp_path_factory) -> Path:
    """A tiny tagger trained briefly on TINY_SENTENCES and saved."""
    from entitune import Sentence, Tagger, TrainConfig, fit
    from entitune.model import label_set

    sentences = [Sentence(tuple(w), tuple(t)) for w, t in TINY_SENTENCES]
    tagger = Tagger.from_encoder(tiny_bert, label_set([t for s in sentences for t in s.tags]), max_length=16, stride=4)
    fit(tagger, sentences * 4, sentences, TrainConfig(epochs=3, lr=1e-3, head_lr=1e-2, batch_size=4, warmup=0.0))
    out = tmp_path_factory.mktemp("tiny-tagger")
    tagger.save(out)
    return out


@pytest.fixture
def tiny_files(tmp_path) -> tuple[Path, Path]:
    train = write_bio(tmp_path / "train.bio", TINY_SENTENCES * 3)
    test = write_bio(tmp_path / "test.bio", TINY_SENTENCES)
    return train, test
