from hypothesis import given
from hypothesis import strategies as st

from vamer.data.labels import DEFAULT_CLASSES, RAW_EMOTIONS, normalise_label, parse_emotions

SPELLINGS = {label: [label] for label in RAW_EMOTIONS}
SPELLINGS["disgust"].append("disqust")


def test_seven_raw_labels_and_five_default_classes():
    assert len(RAW_EMOTIONS) == 7
    assert DEFAULT_CLASSES == ("neutral", "happy", "surprise", "angry", "sad")


def test_kemdy_disgust_spelling_is_normalised():
    assert normalise_label("disqust") == "disgust"
    assert parse_emotions("disqust;neutral") == (["disgust", "neutral"], [])


spelled = st.sampled_from([(label, spelling) for label, spellings in SPELLINGS.items() for spelling in spellings])
casing = st.sampled_from([str.lower, str.upper, str.title])
padding = st.sampled_from(["", " ", "  ", "\t"])


@given(st.lists(st.tuples(spelled, casing, padding), min_size=1, max_size=6))
def test_joined_labels_parse_to_canonical_in_order_without_repeats(parts):
    raw = ";".join(pad + case(spelling) + pad for (_, spelling), case, pad in parts)
    expected = []
    for (label, _), _, _ in parts:
        if label not in expected:
            expected.append(label)
    assert parse_emotions(raw) == (expected, [])


@given(st.text())
def test_parser_never_raises_and_partitions_parts(raw):
    known, unknown = parse_emotions(raw)
    assert set(known) <= set(RAW_EMOTIONS)
    assert len(known) == len(set(known))
    for part in unknown:
        assert normalise_label(part) is None
    pieces = [p.strip() for p in raw.split(";") if p.strip()]
    assert len(unknown) + len([p for p in pieces if normalise_label(p)]) == len(pieces)


@given(st.one_of(st.none(), st.integers(), st.floats()))
def test_non_strings_are_not_labels(value):
    assert normalise_label(value) is None
    assert parse_emotions(value) == ([], [])
