"""Camera, microphone and media-path capture on the member's device (H1, H4, H13).

Heavy (OpenCV, PyAV, aiortc): imported on demand by ``agent.checks.media`` only. Every capture runs
in a daemon worker thread with a deadline and releases its device in ``finally``, on success, error
and timeout alike, so the member's camera light never stays on.
"""
