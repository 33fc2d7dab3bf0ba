"""What the annotation-tool readers (``data/annotations.py``) give for valid input: every field of
each ``Sentence`` (words, IOB2 tags, the line where its task or JSON line starts, document 0, the
text, character offsets) and of each ``TextExample``; which tasks are read and which skipped
(unannotated, cancelled, predictions, results that are not entities); where the text of a task is
taken from; how spans at the text's edges, with spaces at their edges, side by side, and over
non-ASCII or CJK text become words; and the multi-label flag. A property test writes any words and
entities as Label Studio and doccano spans and reads the same sentence back."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from entitune.data import annotations as ann
from entitune.types import Sentence, TextExample


def _span(start, end, label, kind="labels"):
    return {
        "type": kind,
        "from_name": "label",
        "to_name": "text",
        "value": {"start": start, "end": end, "labels": [label]},
    }


def _choices(*names):
    return {
        "type": "choices",
        "from_name": "topic",
        "to_name": "text",
        "value": {"choices": list(names)},
    }


def _task(text, *results, **extra):
    return {
        "data": {"text": text},
        "annotations": [{"was_cancelled": False, "result": list(results)}],
        **extra,
    }


def _export(tmp_path, tasks, *, lead="", sep=",\n\n", indent=None, end="\n]\n"):
    """A Label Studio export of ``tasks`` (each written with ``indent``), and the line where each starts."""
    out, lines = lead + "[\n", []
    for i, task in enumerate(tasks):
        if i:
            out += sep
        lines.append(out.count("\n") + 1)
        out += json.dumps(task, indent=indent)
    path = tmp_path / "export.json"
    path.write_text(out + end, encoding="utf-8")
    return path, lines


def _jsonl(tmp_path, rows):
    """A JSONL file of ``rows`` (None: a blank line), and the line of each row."""
    path = tmp_path / "data.jsonl"
    path.write_text(
        "\n".join(
            "" if r is None else r if isinstance(r, str) else json.dumps(r)
            for r in rows
        )
        + "\n",
        encoding="utf-8",
    )
    return path, [i + 1 for i, r in enumerate(rows) if r is not None]


# ----------------------------------------------------------------------------- sentences: every field

#: " Zoë visits 東京 ": a span from 0 takes the leading space, one to the end the trailing space
EDGE_TEXT = " Zoë visits 東京 "
EDGE_WORDS = ("Zoë", "visits", "東", "京")
EDGE_TAGS = ("B-PER", "O", "B-LOC", "I-LOC")
EDGE_OFFSETS = ((1, 4), (5, 11), (12, 13), (13, 14))


def test_labelstudio_sentence_fields_with_spans_at_both_edges_of_the_text(tmp_path):
    """Spans [0, 5) and [11, 15) of a text with spaces at both ends: trimmed to the words; offsets
    are characters (not bytes) of the text as written; doc is 0; line is the task's."""
    tasks = [
        _task("first", _span(0, 5, "X")),
        _task(EDGE_TEXT, _span(0, 5, "PER"), _span(11, 15, "LOC")),
    ]
    path, lines = _export(tmp_path, tasks, indent=2)
    assert list(ann.read_labelstudio(path)) == [
        Sentence(("first",), ("B-X",), 2, 0, "first", ((0, 5),)),
        Sentence(EDGE_WORDS, EDGE_TAGS, lines[1], 0, EDGE_TEXT, EDGE_OFFSETS),
    ]


def test_doccano_sentence_fields_with_spans_at_both_edges_of_the_text(tmp_path):
    rows = [
        {"text": "first", "label": [[0, 5, "X"]]},
        None,
        None,
        {"id": 7, "text": EDGE_TEXT, "label": [[11, 15, "LOC"], [0, 5, "PER"]]},
        {
            "text": EDGE_TEXT,
            "entities": [
                {"id": 1, "start_offset": 0, "end_offset": 5, "label": "PER"},
                {"id": 2, "start_offset": 11, "end_offset": 15, "label": "LOC"},
            ],
            "relations": [],
        },
    ]
    path, lines = _jsonl(tmp_path, rows)
    assert lines == [1, 4, 5]
    assert list(ann.read_doccano(path)) == [
        Sentence(("first",), ("B-X",), 1, 0, "first", ((0, 5),)),
        Sentence(EDGE_WORDS, EDGE_TAGS, 4, 0, EDGE_TEXT, EDGE_OFFSETS),
        Sentence(EDGE_WORDS, EDGE_TAGS, 5, 0, EDGE_TEXT, EDGE_OFFSETS),
    ]


def test_adjacent_spans_are_two_entities_not_an_overlap(tmp_path):
    """[0, 3) and [3, 5) touch without overlapping: two entities, each its own B- tag, cut inside a
    run of letters; two spans of one type with a space between stay two entities."""
    path, _ = _export(
        tmp_path,
        [
            _task("abcde", _span(3, 5, "Y"), _span(0, 3, "X")),
            _task("ab cd", _span(0, 2, "X"), _span(3, 5, "X")),
            _task("a b", _span(0, 2, "X"), _span(1, 3, "Y")),
        ],
    )  # overlap only in a space
    assert [(s.words, s.tags, s.offsets) for s in ann.read_labelstudio(path)] == [
        (("abc", "de"), ("B-X", "B-Y"), ((0, 3), (3, 5))),
        (("ab", "cd"), ("B-X", "B-X"), ((0, 2), (3, 5))),
        (("a", "b"), ("B-X", "B-Y"), ((0, 1), (2, 3))),
    ]
    path, _ = _jsonl(tmp_path, [{"text": "abcde", "label": [[0, 3, "X"], [3, 5, "Y"]]}])
    assert [(s.words, s.tags) for s in ann.read_doccano(path)] == [
        (("abc", "de"), ("B-X", "B-Y"))
    ]


def test_spaces_inside_a_span_stay_and_every_kind_of_space_at_its_edges_is_trimmed(
    tmp_path,
):
    text = "\t\u00a0New  York\n "
    path, _ = _export(tmp_path, [_task(text, _span(0, len(text), "LOC"))])
    [sentence] = ann.read_labelstudio(path)
    assert (sentence.words, sentence.tags, sentence.offsets) == (
        ("New", "York"),
        ("B-LOC", "I-LOC"),
        ((2, 5), (7, 11)),
    )


def test_multibyte_text_keeps_character_offsets(tmp_path):
    """Offsets count characters: two-byte (é), three-byte (東) and four-byte (𝐀, one character
    though two UTF-16 units) characters are one each."""
    text = "Café 東京 𝐀b x"
    path, _ = _jsonl(
        tmp_path,
        [{"text": text, "label": [[0, 4, "ORG"], [5, 7, "LOC"], [8, 10, "M"]]}],
    )
    [s] = ann.read_doccano(path)
    assert s == Sentence(
        ("Café", "東", "京", "𝐀b", "x"),
        ("B-ORG", "B-LOC", "I-LOC", "B-M", "O"),
        1,
        0,
        text,
        ((0, 4), (5, 6), (6, 7), (8, 10), (11, 12)),
    )


def test_a_text_without_words_is_no_sentence(tmp_path):
    path, _ = _export(tmp_path, [_task(""), _task(" \n\t"), _task("a")])
    assert [s.words for s in ann.read_labelstudio(path)] == [("a",)]
    path, _ = _jsonl(
        tmp_path, [{"text": "", "label": []}, {"text": "  "}, {"text": "b"}]
    )
    assert [(s.words, s.line) for s in ann.read_doccano(path)] == [(("b",), 3)]


# ----------------------------------------------------------------------------- Label Studio: which tasks


def test_which_label_studio_tasks_and_annotations_are_read(tmp_path):
    """Read: the first annotation not cancelled (a cancelled first one is passed over, not the end
    of the task); ``completions`` (older exports) when there are no ``annotations``; an annotation
    without ``result`` (no entities). Skipped: no annotations at all, an empty list, only cancelled
    ones. ``predictions`` are never labels; results that are not entities (a relation, a note) are
    passed over, not the end of the results; ``hypertextlabels`` are entities."""
    relation = {"type": "relation", "from_id": "a", "to_id": "b"}
    tasks = [
        {"data": {"text": "no annotations key"}},
        {"data": {"text": "empty list"}, "annotations": []},
        {
            "data": {"text": "all cancelled"},
            "annotations": [{"was_cancelled": True, "result": [_span(0, 3, "X")]}],
        },
        {
            "data": {"text": "second is read"},
            "annotations": [
                {"was_cancelled": True, "result": [_span(0, 6, "X")]},
                {"was_cancelled": False, "result": [_span(7, 9, "Y")]},
                {"result": [_span(10, 14, "Z")]},
            ],
        },
        {
            "data": {"text": "old completions"},
            "completions": [{"result": [_span(0, 3, "OLD")]}],
        },
        {"data": {"text": "no result key"}, "annotations": [{"lead_time": 3.5}]},
        {**_task("predicted only"), "predictions": [{"result": [_span(0, 9, "P")]}]},
        _task(
            "after a relation",
            relation,
            {"type": "textarea", "value": {"text": ["x"]}},
            _span(6, 7, "R"),
        ),
        _task("html spans", _span(0, 4, "H", kind="hypertextlabels")),
    ]
    path, lines = _export(tmp_path, tasks)
    assert [(s.words, s.tags, s.line) for s in ann.read_labelstudio(path)] == [
        (("second", "is", "read"), ("O", "B-Y", "O"), lines[3]),
        (("old", "completions"), ("B-OLD", "O"), lines[4]),
        (("no", "result", "key"), ("O", "O", "O"), lines[5]),
        (("predicted", "only"), ("O", "O"), lines[6]),
        (("after", "a", "relation"), ("O", "B-R", "O"), lines[7]),
        (("html", "spans"), ("B-H", "O"), lines[8]),
    ]


def test_the_text_of_a_task_is_data_text_or_its_only_string(tmp_path):
    """``data.text`` when present (other strings beside it do not matter); without it, the one
    string value of ``data`` (a project whose text field has another name)."""
    tasks = [
        {
            "data": {"title": "T", "text": "from text", "url": "u"},
            "annotations": [{"result": []}],
        },
        {
            "data": {"id": 4, "body": "only string", "meta": {"a": "b"}},
            "annotations": [{"result": []}],
        },
    ]
    path, _ = _export(tmp_path, tasks)
    assert [s.text for s in ann.read_labelstudio(path)] == ["from text", "only string"]
    tasks = [
        {
            "data": {"id": 4, "review": "fine film"},
            "annotations": [{"result": [_choices("pos")]}],
        }
    ]
    path, _ = _export(tmp_path, tasks)
    assert ann.read_labelstudio_texts(path) == (
        [TextExample("fine film", ("pos",), 2)],
        False,
    )


# ----------------------------------------------------------------------------- Label Studio: lines


def test_task_lines_count_every_newline_before_the_task(tmp_path):
    """Newlines before the ``[``, between tasks, inside multi-line tasks and inside strings (written
    as ``\\n`` escapes, so not line breaks) all count as the file shows them."""
    tasks = [_task("a\nb"), _task("c"), _task("d e")]
    path, lines = _export(tmp_path, tasks, lead="\n \n", sep=" ,\n\n\n", indent=3)
    assert lines[0] == 4
    assert [s.line for s in ann.read_labelstudio(path)] == lines


def test_tasks_without_spaces_between_them_are_each_read(tmp_path):
    """JSON written without spaces (``[{..},{..}]``, one line): each task is read, all on line 1."""
    tasks = [_task("a b", _span(0, 1, "X")), _task("c", _span(0, 1, "Y")), _task("d")]
    path = tmp_path / "compact.json"
    path.write_text(json.dumps(tasks, separators=(",", ":")), encoding="utf-8")
    assert [(s.words, s.tags, s.line) for s in ann.read_labelstudio(path)] == [
        (("a", "b"), ("B-X", "O"), 1),
        (("c",), ("B-Y",), 1),
        (("d",), ("O",), 1),
    ]
    path.write_text(
        "\n" + json.dumps(tasks, separators=(",", ":")).replace("},{", "},\n{"),
        encoding="utf-8",
    )
    assert [s.line for s in ann.read_labelstudio(path)] == [2, 3, 4]


def test_iter_json_array_gives_each_element_and_its_line(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(
        '\n[ 1,\n  "two" ,\n\n {"three": [3,\n 3]}, null\n]  \n\n', encoding="utf-8"
    )
    assert list(ann.iter_json_array(path)) == [
        (2, 1),
        (3, "two"),
        (5, {"three": [3, 3]}),
        (6, None),
    ]
    path.write_bytes(
        b"\xef\xbb\xbf[\n\n7]"
    )  # a UTF-8 BOM is not a character of the file
    assert list(ann.iter_json_array(path)) == [(3, 7)]


# ----------------------------------------------------------------------------- Label Studio: classes


def test_labelstudio_classes_and_the_multi_label_flag(tmp_path):
    """A task's classes are every choice of every ``choices`` result, stripped, first-seen order,
    without repeats; a task annotated without a class is passed over (not the end of the file);
    results that are neither classes nor entities are passed over; multi-label when some task has
    two classes or more."""
    note = {"type": "textarea", "value": {"text": ["x"]}}
    tasks = [
        _task("no class yet"),
        _task("one", note, _choices(" news ")),
        _task("same twice", _choices("news"), _choices("news ", "news")),
        {"data": {"text": "not annotated"}},
        _task(" spaced  text ", _choices("a")),
        _task(
            "cancelled then read",
            annotations=[
                {"was_cancelled": True, "result": [_choices("x")]},
                {"result": [_choices("y")]},
            ],
        ),
    ]
    path, lines = _export(tmp_path, tasks, indent=1)
    examples, multi = ann.read_labelstudio_texts(path)
    assert examples == [
        TextExample("one", ("news",), lines[1]),
        TextExample("same twice", ("news",), lines[2]),
        TextExample(" spaced  text ", ("a",), lines[4]),
        TextExample("cancelled then read", ("y",), lines[5]),
    ]
    assert multi is False
    path, lines = _export(
        tmp_path,
        [_task("one", _choices("a")), _task("two", _choices("b"), _choices("a"))],
    )
    assert ann.read_labelstudio_texts(path) == (
        [
            TextExample("one", ("a",), lines[0]),
            TextExample("two", ("b", "a"), lines[1]),
        ],
        True,
    )


def test_labelstudio_classes_of_an_export_with_none_is_empty_and_not_multi_label(
    tmp_path,
):
    path, _ = _export(tmp_path, [_task("no class"), {"data": {"text": "x"}}])
    examples, multi = ann.read_labelstudio_texts(path)
    assert examples == [] and multi is False
    (tmp_path / "empty.json").write_text("[]")
    assert ann.read_labelstudio_texts(tmp_path / "empty.json") == ([], False)
    assert ann.read_labelstudio_texts(tmp_path / "empty.json")[1] is False


# ----------------------------------------------------------------------------- doccano


def test_doccano_span_keys_and_lines(tmp_path):
    """``label`` or ``labels`` triples, or ``entities`` objects; a line with none of them is a text
    without entities; an empty list is too; lines count blank lines."""
    rows = [
        {"text": "labels key", "labels": [[0, 6, "K"]]},
        None,
        {"text": "no key at all"},
        {"text": "empty entities", "entities": []},
        "   ",
        {"text": "both keys", "label": [[0, 4, "L"]], "labels": [[5, 9, "M"]]},
    ]
    path, _ = _jsonl(tmp_path, rows)
    assert [(s.words, s.tags, s.line) for s in ann.read_doccano(path)] == [
        (("labels", "key"), ("B-K", "O"), 1),
        (("no", "key", "at", "all"), ("O", "O", "O", "O"), 3),
        (("empty", "entities"), ("O", "O"), 4),
        (("both", "keys"), ("B-L", "O"), 6),
    ]


def test_doccano_kind_is_told_by_the_shape_of_the_labels():
    kind = ann.doccano_kind
    assert kind({"text": "a", "entities": [{"start_offset": 0}]}) == "ner"
    assert kind({"text": "a", "entities": [], "label": ["news"]}) == "classify"
    assert kind({"text": "a", "entities": [], "label": [[0, 1, "X"]]}) == "ner"
    assert kind({"text": "a", "entities": "x", "label": ["news"]}) == "classify"
    assert kind({"text": "a", "label": [[0, 1, "X"]]}) == "ner"
    assert kind({"text": "a", "labels": [[0, 1, "X"]]}) == "ner"
    assert kind({"text": "a", "labels": ["news"]}) == "classify"
    assert kind({"text": "a", "label": ["news"], "labels": [[0, 1, "X"]]}) == "classify"
    for none in (
        {"text": "a"},
        {"text": "a", "label": []},
        {"text": "a", "label": "news"},
        {"text": "a", "labels": "n"},
        {"text": "a", "entities": []},
        {"text": "a", "label": [], "labels": ["news"]},
        {"label": 3},
    ):
        assert kind(none) is None, none


def test_doccano_classes_keys_lines_and_the_multi_label_flag(tmp_path):
    """``label``, ``labels`` or ``cats``: a list of names or one name; stripped, without repeats; an
    empty list is a text not labelled yet (passed over, not the end of the file); multi-label when
    a line has two names or more."""
    rows = [
        {"text": "a", "label": [" x "]},
        None,
        {"text": "b", "labels": ["y"]},
        {"text": "c", "cats": ["z"]},
        {"text": "d", "label": "w"},
        {"text": "e", "label": []},
        {"text": "f", "label": ["x", "x "]},
        {"text": " g ", "labels": "v", "cats": ["u", "t"]},
    ]
    path, _ = _jsonl(tmp_path, rows)
    examples, multi = ann.read_doccano_texts(path)
    assert examples == [
        TextExample("a", ("x",), 1),
        TextExample("b", ("y",), 3),
        TextExample("c", ("z",), 4),
        TextExample("d", ("w",), 5),
        TextExample("f", ("x",), 7),
        TextExample(" g ", ("v",), 8),
    ]
    assert multi is False
    path, _ = _jsonl(
        tmp_path, [{"text": "a", "label": ["x"]}, {"text": "b", "label": ["x", "y"]}]
    )
    assert ann.read_doccano_texts(path) == (
        [TextExample("a", ("x",), 1), TextExample("b", ("x", "y"), 2)],
        True,
    )
    path, _ = _jsonl(tmp_path, [{"text": "a", "label": []}])
    examples, multi = ann.read_doccano_texts(path)
    assert examples == [] and multi is False


# ----------------------------------------------------------------------------- properties

_WORDS = st.sampled_from(["a", "Zoë", "naïve", "ß", "word", "δέκα", "東", "x1", "Ödön"])
_SPACE = st.sampled_from([" ", "  ", "\t", " \n ", "\u00a0"])
_SEGMENTS = st.lists(
    st.tuples(
        st.lists(_WORDS, min_size=1, max_size=3),
        st.sampled_from([None, "PER", "LOC"]),
        st.booleans(),
        st.booleans(),
    ),
    min_size=1,
    max_size=5,
)


def _build(segments, spaces, lead, tail):
    """Text, entities (each widened over the spaces beside it when asked), words, tags and offsets."""
    text, words, tags, offsets, entities = lead, [], [], [], []
    for i, (seg_words, label, widen_left, widen_right) in enumerate(segments):
        if i:
            text += spaces[i % len(spaces)]
        first = len(text)
        for j, w in enumerate(seg_words):
            if j:
                text += " "
            offsets.append((len(text), len(text) + len(w)))
            text += w
            words.append(w)
            tags.append("O" if label is None else f"{'I' if j else 'B'}-{label}")
        if label is not None:
            entities.append([first, len(text), label, widen_left, widen_right])
    text += tail
    spans = []
    for start, end, label, widen_left, widen_right in entities:
        while widen_left and start > 0 and text[start - 1].isspace():
            start -= 1
        while widen_right and end < len(text) and text[end].isspace():
            end += 1
        spans.append((start, end, label))
    return text, spans, Sentence(tuple(words), tuple(tags), 0, 0, text, tuple(offsets))


@settings(max_examples=60)
@given(
    _SEGMENTS,
    st.lists(_SPACE, min_size=1, max_size=3),
    st.sampled_from(["", " ", "\n\t"]),
    st.sampled_from(["", " ", "  \n"]),
    st.randoms(use_true_random=False),
)
def test_any_words_and_entities_written_as_spans_read_back_the_same(
    tmp_path_factory, segments, spaces, lead, tail, rnd
):
    """Words joined by spaces, entities as spans over them (in any order, with or without the spaces
    beside them): both readers give back the words, their IOB2 tags and offsets, and the text."""
    text, spans, want = _build(segments, spaces, lead, tail)
    rnd.shuffle(spans)
    tmp = tmp_path_factory.mktemp("prop")
    path, lines = _export(
        tmp,
        [_task("x"), _task(text, *(_span(s, e, label) for s, e, label in spans))],
        indent=rnd.choice([None, 2]),
    )
    assert list(ann.read_labelstudio(path))[1] == Sentence(
        want.words, want.tags, lines[1], 0, text, want.offsets
    )
    path, _ = _jsonl(tmp, [None, {"text": text, "label": [list(s) for s in spans]}])
    assert list(ann.read_doccano(path)) == [
        Sentence(want.words, want.tags, 2, 0, text, want.offsets)
    ]


@settings(max_examples=40)
@given(
    st.lists(
        st.lists(st.sampled_from(["a", " a", "b ", "c", "long name"]), max_size=4),
        min_size=1,
        max_size=5,
    )
)
def test_any_class_lists_read_back_stripped_without_repeats(
    tmp_path_factory, label_lists
):
    """doccano and Label Studio alike: a text's classes stripped, first-seen order, no repeats; a
    text with none is passed over; multi-label exactly when some text has two distinct classes."""
    want = [tuple(dict.fromkeys(x.strip() for x in labels)) for labels in label_lists]
    tmp = tmp_path_factory.mktemp("cls")
    expected_multi = any(len(w) > 1 for w in want)
    path, lines = _jsonl(
        tmp,
        [{"text": f"t{i}", "label": labels} for i, labels in enumerate(label_lists)],
    )
    examples, multi = ann.read_doccano_texts(path)
    assert examples == [
        TextExample(f"t{i}", w, lines[i]) for i, w in enumerate(want) if w
    ]
    assert multi is expected_multi
    tasks = [
        _task(f"t{i}", *([_choices(*labels)] if labels else []))
        for i, labels in enumerate(label_lists)
    ]
    path, lines = _export(tmp, tasks)
    examples, multi = ann.read_labelstudio_texts(path)
    assert examples == [
        TextExample(f"t{i}", w, lines[i]) for i, w in enumerate(want) if w
    ]
    assert multi is expected_multi
