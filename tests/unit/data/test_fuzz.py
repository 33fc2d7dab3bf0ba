"""Readers fed random bytes and mutated valid files raise only DataFormatError (with a line number
when they name one). Bounded here; bench/fuzz_readers.py runs 10,000 inputs per reader."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entitune.data import READERS
from tests.helpers.fuzz import SEEDS, fuzz, mutate, read_only_raises_data_errors

READER_NAMES = [*READERS, "auto"]


@pytest.mark.parametrize("reader", READER_NAMES)
def test_seed_files_read_cleanly(reader, tmp_path):
    if reader == "auto":
        for name, data in SEEDS.items():
            (tmp_path / name).write_bytes(data)
            assert read_only_raises_data_errors("auto", tmp_path / name) == "ok", name
    else:
        (tmp_path / "f").write_bytes(SEEDS[reader])
        assert read_only_raises_data_errors(reader, tmp_path / "f") == "ok"


@pytest.mark.parametrize("reader", READER_NAMES)
def test_generated_inputs_raise_only_data_errors(reader, tmp_path):
    counts = fuzz(reader, tmp_path / "f", inputs=300, seed=1)
    assert counts["data-error"] > 0  # the generator does reach the error paths


@settings(max_examples=150)
@given(st.sampled_from(READER_NAMES), st.binary(max_size=200), st.randoms(use_true_random=False))
def test_hypothesis_bytes_and_mutations(tmp_path_factory, reader, raw, rnd):
    path = tmp_path_factory.mktemp("fuzz") / "f"
    base = SEEDS.get(reader, SEEDS["conll"])
    for data in (raw, mutate(base, rnd, 3), base + raw):
        path.write_bytes(data)
        read_only_raises_data_errors(reader, path)
