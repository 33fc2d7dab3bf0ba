"""The mutation audit (tests/mutations/inject.py) stays runnable: each bug it injects still finds its
one target line in today's source, and each test it names still exists. Breaking it looks like a
refactor that moves a guarded line, after which the audit fails before it checks anything."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _audit():
    spec = importlib.util.spec_from_file_location("inject", ROOT / "tests" / "mutations" / "inject.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_injected_bug_finds_exactly_one_target_and_an_existing_test():
    mutations = _audit().MUTATIONS
    assert len(mutations) == 13
    for name, _behaviour, file, search, replace, test in mutations:
        text = (ROOT / "src" / "entitune" / file).read_text()
        assert text.count(search) == 1, f"{name}: {search!r} occurs {text.count(search)} times in {file}"
        assert search != replace
        path, _, function = test.partition("::")
        assert f"def {function}(" in (ROOT / path).read_text(), f"{name}: {test} does not exist"
