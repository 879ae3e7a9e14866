"""Camera, microphone and media-path analysis shared by the agent and the collector (H1, H4, H13).

Heavy: these modules import numpy and OpenCV (and :mod:`likavillkor.media.tracks` imports aiortc),
so nothing in the light core imports them; callers import them on demand, inside the function
that needs them. ``likavillkor.media.limits``, ``findings``, ``video_judge``, ``audio_judge`` and
``report`` stay light (msgspec only) so the collector's engine and web pages can read a media
result without numpy.
"""
