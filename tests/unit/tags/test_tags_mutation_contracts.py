"""Which strings ``split_tag`` refuses: mutation testing (scripts/mutation.sh) found nothing pinning it
for near misses of ``O``. The tags/ survivors that cannot change behaviour are entries of
tests/mutations/equivalent.toml, explained in docs/mutation_survivors.md."""

import pytest

from entitune.errors import TagSchemeError
from entitune.tags import TAG_PATTERN, split_tag


@pytest.mark.parametrize(
    "tag",
    [
        "o",  # a lower-case outside tag: the scheme is case-sensitive
        "XXOXX",  # an upper-case word that merely contains O
        "OO",
        "O-PER",
        "b-PER",
        "X-PER",
        "B-",
        "B- PER",
        "",
    ],
)
def test_split_tag_refuses_every_string_other_than_o_and_prefix_type(tag):
    # Only "O" itself reads as outside; a near miss is refused, never taken as ("O", "").
    with pytest.raises(TagSchemeError, match=r"is neither 'O' nor PREFIX-TYPE"):
        split_tag(tag)


@pytest.mark.parametrize("tag", ["O\n", "B-PER\n", "I-LOC\r\n"])
def test_a_tag_with_a_line_break_at_its_end_is_refused(tag):
    """A tag is the whole string: ``$`` would also match before a final line break, and let
    ``"B-PER\\n"`` through as the type ``"PER\\n"`` (a type no other tag has)."""
    with pytest.raises(TagSchemeError, match="neither 'O' nor PREFIX-TYPE"):
        split_tag(tag)
    assert not TAG_PATTERN.match(tag)
