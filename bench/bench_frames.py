"""How long the per-frame checks take on a 640x480 frame (target <= 2 ms without faces).

    .venv/bin/python bench/bench_frames.py [frames]

Prints the median and 95th percentile per frame, with and without face detection every frame,
all measured in this one run.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from likavillkor.media.frames import FrameStats


def scene(i: int, rng: np.random.Generator) -> np.ndarray:
    frame = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    frame[100:300, (i * 7) % 400 : (i * 7) % 400 + 200] = 200
    return frame


def measure(n: int, faces: bool) -> list[float]:
    rng = np.random.default_rng(1)
    frames = [scene(i, rng) for i in range(16)]
    stats = FrameStats(640, 480, detect_faces=faces)
    if faces:
        stats.limits.face_interval_s = 0.0
    times: list[float] = []
    for i in range(n):
        t0 = time.perf_counter()
        stats.add(frames[i % len(frames)], i / 30)
        times.append((time.perf_counter() - t0) * 1000)
    return times[5:]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    for faces in (False, True):
        ms = sorted(measure(n, faces))
        p95 = ms[int(0.95 * (len(ms) - 1))]
        label = "with faces every frame" if faces else "without faces"
        print(f"640x480 {label}: median {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms per frame ({len(ms)} frames)")


if __name__ == "__main__":
    main()
