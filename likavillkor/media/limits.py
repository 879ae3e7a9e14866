"""Limits for camera, microphone and media-path checks, each with the source it comes from.

Light (msgspec only). The figures are the published ones in
``shared/reference/quality-thresholds.md`` (webrtc/testrtc, Twilio, W3C webrtc-stats, Teams CQD).
"""

from __future__ import annotations

from likavillkor.config import Section


class FrameLimits(Section):
    """Per-frame and per-check video limits (H1, H4)."""

    #: testrtc: a frame is black when its mean luma (0.21 R + 0.72 G + 0.07 B) is <= 20 of 255
    black_luma: float = 20.0
    #: testrtc: a frame is frozen when its SSIM against the previous frame is > 0.985
    frozen_ssim: float = 0.985
    #: ... and (project's addition, issue 14) no block of an 8x8 grid over the 160x120 luma plane
    #: changed by more than this many levels on average: a live sensor's noise moves a block by about
    #: 1 level and a video codec refining a still picture by up to 4 (measured on the media path's
    #: VP8), a moving hand or head by 15 or more
    frozen_motion_luma: float = 6.0
    #: testrtc: the check fails when more than a third of its frames are black (or frozen)
    bad_frame_ratio: float = 1.0 / 3.0
    #: a black or frozen stretch at least this long is a warning even below the share above (project's
    #: choice: half a second is visible to the room; single odd frames are not)
    visible_run_s: float = 0.5
    #: testrtc: the check fails when the capture frame rate is below 5 fps
    min_fps: float = 5.0
    #: Teams CQD: video is poor below 7 fps (used for the received side of the media path)
    poor_received_fps: float = 7.0
    #: variance of the Laplacian on the 320x240 luma plane below this is "blurred" (project's
    #: choice, calibrated on the test clip: a sharp desk scene gives > 400, Gaussian sigma 4 < 40)
    blur_laplacian_var: float = 60.0
    #: under-exposed: mean luma below this (but not black) ...
    dark_luma: float = 50.0
    #: ... or more than this share of pixels at or below 30/255
    dark_pixel_ratio: float = 0.75
    #: over-exposed: more than this share of pixels at or above 250/255
    bright_pixel_ratio: float = 0.25
    #: face detection runs at most this often (seconds): the Haar cascade costs ~10 ms a frame
    face_interval_s: float = 1.0


class AudioLimits(Section):
    """Microphone limits (H1, H4)."""

    #: testrtc: the microphone is too quiet below -60 dBFS RMS
    silence_dbfs: float = -60.0
    #: testrtc: clipping is more than 6 consecutive full-scale samples
    clip_run_samples: int = 7
    #: a sample counts as full scale at or above this fraction of full scale (int16: 32767/32768)
    full_scale: float = 32767.0 / 32768.0
    #: clipping fails when more than this share (percent) of the samples is at full scale: the room
    #: hears distortion rather than words (project's choice); fewer clipped runs only warn
    clip_fail_percent: float = 5.0
    #: Twilio: a dead microphone's level is almost constant, std dev below 1 % of full scale ...
    dead_level_std_percent: float = 1.0
    #: ... and (project's addition, so quiet speech is not "dead") its short-window level moves less
    #: than this many dB between the 10th and 90th percentile
    dead_level_spread_db: float = 6.0
    #: ... and (issue 14: no *signal* variation) the level of 100 ms windows varies by less than this
    #: (relative standard deviation): a hum, a DC offset or a stuck buffer is that steady; room noise
    #: is not (white noise varies by about 1 % between 100 ms windows at 48 kHz), so a working
    #: microphone in a quiet room with a fan is not "dead" when the member says nothing
    dead_level_rel_std: float = 0.005
    #: window for the short-term level, the noise floor and the level spread
    window_s: float = 0.05
