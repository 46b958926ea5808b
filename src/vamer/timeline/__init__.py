"""Stage 7 of vamer: emotion over time.  A long recording (a counselling session, a call, a
dialogue) is cut into speech segments by a voice activity detector, each segment is predicted by
the bundle's model as one clip is, and the result is a timeline: rows per segment, a summary, a
figure, and the service's ``POST /timeline``.

>>> from vamer.timeline.result import Timeline
>>> [name for name in Timeline.model_fields if name in ("segments", "summary", "waveform")]
['segments', 'summary', 'waveform']
"""
