"""What vamer accepts, in one place below every stage that checks it: one clip to predict
(:class:`PredictionLimits`), a long recording for a timeline (:class:`TimelineLimits`) and the
service's uploads (:class:`ServiceLimits`, the options of ``vamer serve``).

>>> ServiceLimits().timeline().max_seconds
3600.0
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PredictionLimits:
    """What a prediction accepts; the service exposes these as options."""

    max_seconds: float | None = 60.0  # longer recordings are refused (None: no limit)
    max_decoded_mb: float = 64.0  # float32 samples decoded for the part the model reads
    min_sample_rate: int | None = None  # None: the bundle's rate (lower rates lack the mel bands)
    max_text_chars: int = 2_000


@dataclass(frozen=True)
class TimelineLimits:
    """What a timeline accepts."""

    max_seconds: float | None = 4 * 3600.0  # longer recordings are refused (None: no limit)
    min_sample_rate: int = 8_000  # the speech detector's lowest rate
    max_channels: int = 8
    # Float32 samples decoded at once: a block, or a segment read back, is read in pieces of at most
    # this (30 s of 8 channels at 655 kHz would be 629 MB in one read).
    max_block_mb: float = 16.0
    max_decoded_mb: float | None = None  # samples decoded in all, from the header (None: no limit)
    max_transcript_bytes: int = 4 * 1024 * 1024  # an hour of word-level cues is under 1 MB
    max_cues: int = 40_000  # an hour with a cue every 0.09 s


@dataclass(frozen=True)
class ServiceLimits:
    """What ``vamer serve`` accepts and how it treats slow clients (its options)."""

    max_upload_bytes: int = 20 * 1024 * 1024
    concurrency: int = 2  # predictions running at once (each uses torch's intra-op threads)
    max_uploads: int = 16  # bodies arriving at once at the base rate floor; past it the floor rises with them
    max_buffered_mb: int = 512  # upload bytes held in memory by every request together; past it: wait, then 503
    queue_timeout_s: float = 30.0  # how long a request waits for room or for the timeline builder before its 503
    body_timeout_s: float = 30.0  # a body must arrive whole within this; else 408
    header_timeout_s: float = 10.0  # a request's head must arrive within this; else the connection closes
    max_connections: int = 256  # open connections; uvicorn answers 503 past this
    max_form_parts: int = 8  # a form has 2 fields; 400,000 tiny parts once kept the server busy 8.5 s
    min_body_rate_bps: int = 8 * 1024  # after rate_grace_s, a body slower than this on average gets 408
    rate_grace_s: float = 2.0
    min_mean_chunk_bytes: int = 64  # past 1,024 pieces, a body whose pieces average less gets 408
    max_timeline_upload_bytes: int = 256 * 1024 * 1024  # an hour of 16 kHz 16-bit stereo is 230 MB
    max_timeline_seconds: float = 3600.0
    # Samples a timeline decodes in all (float32): an hour of 48 kHz stereo is 1,382 MB.  Blocks are
    # read a few MB at a time whatever this is (TimelineLimits.max_block_mb).
    max_timeline_decoded_mb: float = 1_500.0
    transcript_timeout_s: float = 10.0  # a transcript must parse within this; else 422
    timelines: int = 1  # timelines built at once (each holds its recording in memory)

    def timeline(self) -> TimelineLimits:
        """What a timeline of this service accepts."""
        return TimelineLimits(max_seconds=self.max_timeline_seconds, max_decoded_mb=self.max_timeline_decoded_mb)
