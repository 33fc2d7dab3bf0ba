"""The names of ``entitune.encode`` that load torch (``collate`` and the masking names) are imported on
first use: each resolves to the object its module defines, is then a plain attribute of the package
(looked up once), and every other unknown name is an ``AttributeError`` naming it.

Each test first drops the name from the package, so the lookup itself runs: importing the tests
(``from entitune.encode import collate`` elsewhere) has usually resolved it already."""
from __future__ import annotations

import importlib

import pytest

from entitune import encode

LAZY = {"collate": "tensors", "MaskingRule": "masking", "example_seed": "masking", "mask_ids": "masking",
        "mask_window": "masking", "maskable_units": "masking"}


@pytest.mark.parametrize(("name", "module"), sorted(LAZY.items()))
def test_a_torch_name_resolves_to_its_modules_object_once(monkeypatch, name, module):
    monkeypatch.delitem(vars(encode), name, raising=False)
    defined = getattr(importlib.import_module(f"entitune.encode.{module}"), name)
    assert getattr(encode, name) is defined
    assert vars(encode)[name] is defined  # kept: the next lookup is a plain attribute


def test_every_exported_name_resolves(monkeypatch):
    for name in LAZY:
        monkeypatch.delitem(vars(encode), name, raising=False)
    for name in encode.__all__:
        assert getattr(encode, name) is not None, name


def test_an_unknown_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match=r"^module 'entitune\.encode' has no attribute 'no_such_name'$"):
        encode.no_such_name  # noqa: B018
    assert not hasattr(encode, "tensors_collate")
