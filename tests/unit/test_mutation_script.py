"""scripts/mutation.py places each surviving mutant on its source line, which the changed-lines mode
(``--changed``) filters on and tests/mutations/equivalent.toml is matched against. A wrong line
would make ``--changed`` report no mutant at all, whatever survived."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SOURCE = '''"""A module."""


def first(x):
    return x + 1


class Box:
    def __init__(self, size):
        self.size = size

    def grow(self, by):
        size = self.size
        return size * by
'''


def _script():
    spec = importlib.util.spec_from_file_location("mutation_script", ROOT / "scripts" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_survivor_is_placed_on_the_line_its_diff_changes(tmp_path):
    script = _script()
    path = tmp_path / "mod.py"
    path.write_text(SOURCE)
    function_diff = "--- mod.py\n+++ mod.py\n@@ -1,2 +1,2 @@\n def first(x):\n-    return x + 1\n+    return x - 1\n"
    assert script.line_of(path, "pkg.mod.x_first__mutmut_1", function_diff) == 5
    method_diff = ("--- mod.py\n+++ mod.py\n@@ -1,3 +1,3 @@\n def grow(self, by):\n     size = self.size\n"
                   "-    return size * by\n+    return size / by\n")
    assert script.line_of(path, "pkg.mod.x\u01c1Box\u01c1grow__mutmut_2", method_diff) == 14
    assert script.line_of(path, "pkg.mod.x_missing__mutmut_1", function_diff) is None


def test_a_mutant_of_a_package_module_is_found_in_its_init(tmp_path):
    script = _script()
    (tmp_path / "src" / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "sub" / "__init__.py").write_text("")
    (tmp_path / "src" / "pkg" / "mod.py").write_text("")
    assert script.source_of("pkg.mod.x_f__mutmut_1", tmp_path) == Path("src/pkg/mod.py")
    assert script.source_of("pkg.sub.x___getattr____mutmut_3", tmp_path) == Path("src/pkg/sub/__init__.py")
