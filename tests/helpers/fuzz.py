"""Reader fuzzing shared by the tests and ``bench/fuzz_readers.py`` (test support, not installed): seed files for every format,
byte-level mutations, and the check that a reader raises nothing but ``DataFormatError``."""
from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

from entitune.data import READERS, load_annotated
from entitune.errors import DataFormatError

#: A small valid file per reader (the bytes a mutation starts from).
SEEDS: dict[str, bytes] = {
    "conll": b"-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\nPeter NNP B-NP B-PER\n",
    "bio": b"O\tshow\nB-ACTOR\tdrew\nI-ACTOR\tbarrymore\n\nB-YEAR\t1980s\n",
    "jsonl": (json.dumps({"tokens": ["Jane", "Doe"], "tags": ["B-PER", "I-PER"]}) + "\n"
              + json.dumps({"text": "Visit New York", "entities": [{"start": 6, "end": 14, "label": "LOC"}]}) + "\n").encode(),
    "gmb": "Sentence #,Word,POS,Tag\r\nSentence: 1,Thousands,NNS,O\r\n,London,NNP,B-geo\r\nSentence: 2,caf\xe9\x85,NN,O\r\n".encode("latin-1"),
    "weibo": "科0\tO\n技1\tO\n张0\tB-PER.NAM\n三1\tI-PER.NAM\n\n好0\tO\n".encode(),
    "klue": "## 토큰 : \\t\n## klue-ner-v1_dev_00000-x\t<김 철:PS> 간다\n김\tB-PS\n \tI-PS\n철\tI-PS\n \tO\n간\tO\n\n".encode(),
    "kmou": "; 홍길동이 왔다.\r\n$<홍길동:PS>이 왔다.\r\n1\t홍길\tNNP\tB_PS\r\n1\t동\tNNP\tI\r\n2\t오\tVV\tO\r\n".encode(),
    "labelstudio": json.dumps([
        {"id": 1, "data": {"text": "Jane Doe visits Paris"}, "annotations": [{"was_cancelled": False, "result": [
            {"type": "labels", "from_name": "label", "to_name": "text",
             "value": {"start": 0, "end": 8, "text": "Jane Doe", "labels": ["PER"]}},
            {"type": "labels", "from_name": "label", "to_name": "text",
             "value": {"start": 16, "end": 21, "text": "Paris", "labels": ["LOC"]}}]}], "predictions": []},
        {"id": 2, "data": {"text": "nothing here"}, "annotations": []}], indent=1).encode(),
    "doccano": (json.dumps({"id": 1, "text": "Jane Doe visits Paris", "label": [[0, 8, "PER"], [16, 21, "LOC"]]}) + "\n"
                + json.dumps({"id": 2, "text": "Visit Rome", "entities": [{"id": 3, "label": "LOC", "start_offset": 6,
                                                                        "end_offset": 10}]}) + "\n").encode(),
}


def mutate(data: bytes, rng: random.Random, edits: int) -> bytes:
    """Apply ``edits`` random byte edits: replace, insert, delete, duplicate or drop a chunk."""
    buf = bytearray(data)
    specials = b"\t\n\r ,;$#{}[]\":-_0\x00\x85\xef\xbb\xbf\xff"
    for _ in range(edits):
        op = rng.randrange(5)
        pos = rng.randrange(len(buf) + 1)
        byte = rng.choice(specials) if rng.random() < 0.5 else rng.randrange(256)
        if op == 0 and buf:
            buf[min(pos, len(buf) - 1)] = byte
        elif op == 1:
            buf.insert(pos, byte)
        elif op == 2 and buf:
            del buf[min(pos, len(buf) - 1)]
        elif op == 3:
            end = min(len(buf), pos + rng.randrange(1, 40))
            buf[pos:pos] = buf[pos:end]
        else:
            del buf[pos : pos + rng.randrange(1, 40)]
    return bytes(buf)


def read_only_raises_data_errors(reader: str, path: Path) -> str:
    """Run one reader (or ``auto``) on ``path``; return ``"ok"`` or ``"data-error"``.

    ``auto`` runs ``load_annotated`` (sniffing, reading, scheme detection and conversion). Any
    other exception propagates: that is a bug the fuzzing is looking for.
    """
    try:
        if reader == "auto":
            load_annotated(path, "auto")  # the whole path training takes: sniff, read, scheme, convert
        else:
            list(READERS[reader](path))
    except DataFormatError as exc:
        if exc.line is not None and exc.line < 1:
            raise AssertionError(f"line number {exc.line} in {exc}") from None
        return "data-error"
    return "ok"


def fuzz(reader: str, path: Path, inputs: int, seed: int = 0, on_input: Callable[[bytes], None] | None = None) -> dict:
    """Feed ``inputs`` generated files (half random bytes, half mutated seeds) to ``reader``."""
    rng = random.Random(seed)
    counts = {"ok": 0, "data-error": 0}
    seeds = list(SEEDS.values()) if reader == "auto" else [SEEDS[reader], *SEEDS.values()]
    for i in range(inputs):
        if i % 2:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
        else:
            base = seeds[0] if rng.random() < 0.7 else rng.choice(seeds)
            data = mutate(base, rng, rng.randrange(1, 8))
        path.write_bytes(data)
        if on_input is not None:
            on_input(data)
        counts[read_only_raises_data_errors(reader, path)] += 1
    return counts
