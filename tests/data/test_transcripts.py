import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vamer.data.transcripts import TranscriptError, clean_transcript, decode_transcript, read_transcript

HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("n/ 아 친구들도? l/", "아 친구들도?"),
        ("c/ 그래서 N/ 갔어", "그래서 갔어"),
        ("u/ 뭐라고 b/ 했어", "뭐라고 했어"),
        ("그+ 그래서 뭐* 했어", "그 그래서 뭐 했어"),
        ("어/ 그렇구나", "어 그렇구나"),
        ("뭐*?", "뭐?"),
        ("  여러   칸  ", "여러 칸"),
        ("n/ l/ b/", ""),
        ("and/or 그리고", "and or 그리고"),
    ],
)
def test_tags_removed_words_kept(raw, clean):
    assert clean_transcript(raw) == clean


words = st.text(alphabet=st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3), min_size=1, max_size=5)
tags = st.sampled_from(["c/", "n/", "N/", "u/", "l/", "b/"])
marks = st.sampled_from(["", "*", "+", "/"])
punctuation = st.sampled_from(["", "?", "!", ".", ","])
token = st.one_of(tags, st.tuples(words, marks, punctuation).map("".join))


@given(st.lists(token, max_size=12))
def test_cleaning_keeps_every_hangul_syllable_and_removes_every_tag(tokens):
    raw = " ".join(tokens)
    clean = clean_transcript(raw)
    assert HANGUL.findall(clean) == HANGUL.findall(raw)
    assert not re.search(r"[*+/]", clean)
    assert clean == clean.strip() and "  " not in clean


@given(st.text())
def test_cleaning_is_idempotent_and_total(raw):
    once = clean_transcript(raw)
    assert clean_transcript(once) == once


def test_decode_cp949_and_utf8_and_reject_garbage(tmp_path):
    text = "n/ 아 친구들도? l/"
    assert decode_transcript(text.encode("cp949")) == text
    assert decode_transcript(text.encode("utf-8")) == text
    assert decode_transcript(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    with pytest.raises(TranscriptError):
        decode_transcript(b"\xff\xfe\xff\xfa")
    path = tmp_path / "t.txt"
    path.write_bytes("첫 줄\n둘째 줄\n".encode("cp949"))
    assert read_transcript(path) == "첫 줄 둘째 줄"
