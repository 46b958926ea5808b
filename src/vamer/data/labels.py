"""Emotion labels: the seven raw KEMDy labels, their spellings, and the ``;`` multi-label form.

>>> normalise_label(" Disqust ")
'disgust'
>>> parse_emotions("happy;neutral")
(['happy', 'neutral'], [])
>>> parse_emotions("happy;bored")
(['happy'], ['bored'])
>>> parse_emotions("Boredom;happy", open_vocabulary=True)
(['boredom', 'happy'], [])
"""

from __future__ import annotations

from collections.abc import Collection

RAW_EMOTIONS: tuple[str, ...] = ("neutral", "happy", "surprise", "angry", "sad", "disgust", "fear")
"""The seven labels of KEMDy19/20, in canonical spelling."""

DEFAULT_CLASSES: tuple[str, ...] = ("neutral", "happy", "surprise", "angry", "sad")
"""The method's five classes: disgust and fear have < 100 segments in KEMDy20 and are dropped."""

# Spellings seen in KEMDy ('disqust' in KEMDy20's Total Evaluation column) and common in
# other corpora a manifest may come from.
_ALIASES: dict[str, str] = {
    "disqust": "disgust",
    "disgusted": "disgust",
    "happiness": "happy",
    "joy": "happy",
    "surprised": "surprise",
    "anger": "angry",
    "sadness": "sad",
    "fearful": "fear",
    "neutrality": "neutral",
}


def normalise_label(raw: object) -> str | None:
    """Return the canonical spelling of one emotion, or ``None`` when it is not an emotion."""
    if not isinstance(raw, str):
        return None
    key = raw.strip().lower()
    if key in RAW_EMOTIONS:
        return key
    return _ALIASES.get(key)


def label_key(raw: object) -> str | None:
    """Any corpus's label in one spelling: a KEMDy emotion or alias in its canonical form, any other
    label stripped and lower-cased (``Boredom`` -> ``boredom``); ``None`` for an empty cell."""
    known = normalise_label(raw)
    if known is not None or not isinstance(raw, str):
        return known
    return raw.strip().lower() or None


def parse_emotions(
    raw: object, open_vocabulary: bool = False, also: Collection[str] = ()
) -> tuple[list[str], list[str]]:
    """Split a (possibly ``;``-joined) annotation into known emotions and unknown parts.

    Known emotions keep their written order without repeats; empty parts are ignored.  With
    ``open_vocabulary`` (a manifest without a class set) every label is known, in :func:`label_key`
    spelling; labels in ``also`` (a chosen class set) are known too.
    """
    if not isinstance(raw, str):
        return [], []
    known: list[str] = []
    unknown: list[str] = []
    for part in raw.split(";"):
        if not part.strip():
            continue
        label = label_key(part)
        if not (open_vocabulary or label in also):
            label = normalise_label(part)
        if label is None:
            unknown.append(part.strip())
        elif label not in known:
            known.append(label)
    return known, unknown
