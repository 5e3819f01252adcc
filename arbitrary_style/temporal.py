"""Motion-compensated temporal consistency for video (`--temporal_consistency`).

A per-frame network flickers: each frame's strokes land a little differently. Here each
output frame is the frame's own stylization S_t blended with the previous *output*
O_{t-1} warped along the motion of the input (optical flow, as the flow-based methods of
Ruder et al. 2016 and Lai et al. 2018 carry the previous result forward), only where that
warp can be trusted:

    O_t = S_t + weight * (warp(O_{t-1}) - S_t),   weight = trust * min(blend, n / (n + 1))

`trust` is 0 where the forward-backward check of the flow fails (occlusions and
disocclusions: a pixel's backward flow and the forward flow where it lands must cancel,
the criterion of Sundaram et al. 2010 that Ruder et al. use), on motion boundaries (a
flow-gradient test after Ruder et al.'s), within ERODE_RADIUS pixels of any such pixel
(flows smear across object edges, and the network's strokes reach past them), where the
flow leaves the frame, and where the input itself does not warp well (its photometric
warp error, less a global exposure change, ramps trust down to 0 at WARP_ERROR_LIMIT).
At a scene cut (thumbnail detector, or too few trusted pixels) the output is the
per-frame result. It is recursive: strokes stay attached to the scene for several
frames, and nothing is retrained, so any style works.

The weight is motion-adaptive, as recursive video noise filters are: `blend` falls from
BLEND on still pixels (their history is carried over nearly as it is) to BLEND_MOVING at
MOTION_SCALE pixels a frame and beyond (a moving pixel's history has been resampled at
every frame, softening it, and a flow's error grows with the motion), so moving regions
stay nearer their own stylization and do not trail. And `n`, the number of
frames a pixel's history holds (carried along the flow, restarted at 1 wherever trust
was 0), makes a young history a running average (1/2, 2/3, ...) rather than weighing one
old frame at `blend`: just after a cut or a disocclusion the output leans on its own
stylization, not on a single previous frame.

The flow is OpenCV's DIS optical flow (Kroeger et al. 2016) at its FAST preset, on a copy
of the frames at most FLOW_LONG_SIDE pixels long, its patches searched down to half that
copy's size (FAST alone stops at a quarter, which on a 176 px frame misses a talking head's
motion) or, on small frames, to the full size, so that the patch grid stays MIN_FLOW_GRID
pixels long. It is imported only when the feature is used (OpenCV is the optional
`temporal` extra). The constants were chosen on `benchmarks/flicker.py --warping`
(BUILD_NOTES, issue 25).
"""

import math

import numpy as np
from PIL import Image

from arbitrary_style.errors import UserError
from arbitrary_style.image_io import to_uint8

# A scene cut: consecutive frames' 32x18 thumbnails differ by more than this mean absolute
# difference (in [0, 1]) (see BUILD_NOTES for the numbers).
CUT_THRESHOLD = 0.1
_CUT_THUMBNAIL = (32, 18)

# Weight of the warped previous output where the warp is fully trusted: BLEND on still
# pixels, falling linearly to BLEND_MOVING at MOTION_SCALE pixels a frame (of the output
# frame) and beyond; never more than n / (n + 1) for a history of n frames, n at most
# MAX_HISTORY.
BLEND, BLEND_MOVING, MOTION_SCALE = 0.95, 0.65, 3.0
MAX_HISTORY = 20
# Photometric warp error of the input (mean |C_t - warp(C_{t-1})| over RGB, in [0, 1]):
# full trust up to WARP_ERROR_TRUSTED (noise, small exposure changes), falling linearly to
# none at WARP_ERROR_LIMIT.
WARP_ERROR_TRUSTED, WARP_ERROR_LIMIT = 0.02, 0.1
# Forward-backward check: |b + f(x + b)|^2 <= FB_RELATIVE * (|b|^2 + |f(x + b)|^2) + FB_ABSOLUTE
# (pixels^2), the constants of Sundaram et al. 2010 / Ruder et al. 2016.
FB_RELATIVE, FB_ABSOLUTE = 0.01, 0.5
# Motion boundaries: |grad u|^2 + |grad v|^2 > MOTION_BOUNDARY_LIMIT (0.14 px per px). Ruder
# et al.'s test, > 0.01 |w|^2 + 0.002, flags the patch noise of DIS's finer levels on still
# texture (7% of carphone's pixels), and its relative term passes the ramp DIS smooths
# across a fast object's disocclusion (~0.8 px/px at 12 px a frame); a fixed limit flags
# that ramp at any speed.
MOTION_BOUNDARY_LIMIT = 0.02
# Radius (in frame pixels) of the square around a failed pixel whose trust is dropped too,
# the network's strokes reaching past object edges: a 5x5 square on a flow at the frame's
# size, scaled down with the flow's copy (at least 3x3).
ERODE_RADIUS = 2
# A frame with fewer trusted pixels than this share starts anew (a cut the thumbnail
# detector missed, or motion the flow cannot follow).
MIN_TRUSTED_SHARE = 0.2
# DIS searches its patches down to the coarsest pyramid level (halvings of the frame, at most
# MAX_FLOW_LEVEL) whose longer side is still at least MIN_FLOW_GRID pixels.
MIN_FLOW_GRID, MAX_FLOW_LEVEL = 80, 1
# The flow, the trust and the weight are computed on frames whose longer side is at most
# this many pixels (larger frames: on a downscaled copy, the flow and weight scaled back
# up), which bounds their cost.
FLOW_LONG_SIDE = 320
# Peak bytes per frame pixel of the filter: its temporaries measured with tracemalloc at
# 69 (640x360) and 53 (1280x720) (measured again with the motion-adaptive weight: 60 and
# 51, against 57 and 50 for the first version in the same run; with the flow on copies
# 320 px long: 45 and 41), plus the previous output (12) and the history lengths (4 at
# most) it holds, rounded up (kept with the smaller copies: OpenCV's own buffers are not
# traced).
BYTES_PER_PIXEL = 96
INSTALL_HINT = "pip install 'arbitrary_style[temporal]'"


def cut_thumbnail(pixels):
    """The float [18,32,3] box-filtered thumbnail of a uint8 frame that scene cuts are
    detected on."""
    return np.asarray(Image.fromarray(pixels).resize(_CUT_THUMBNAIL, Image.BOX),
                      np.float32) / 255.0


class SceneCuts:
    """Called on each uint8 frame of a clip in order: whether it starts a new shot (its
    thumbnail differs by more than `threshold` on average from the previous frame's)."""

    def __init__(self, threshold=None):
        self.threshold = CUT_THRESHOLD if threshold is None else threshold
        self._thumbnail = None

    def __call__(self, pixels):
        thumbnail = cut_thumbnail(pixels)
        previous, self._thumbnail = self._thumbnail, thumbnail
        return previous is not None and float(np.mean(np.abs(thumbnail - previous))) > \
            self.threshold


def _cv2():
    """OpenCV, or a UserError that says how to install it."""
    try:
        import cv2
    except ImportError:
        raise UserError(f"--temporal_consistency needs OpenCV: {INSTALL_HINT}") \
            from None
    return cv2


def gray(frame):
    """Float RGB [H,W,3] in [0, 1] (or uint8) -> uint8 luma [H,W], what the flow reads."""
    cv2 = _cv2()
    return cv2.cvtColor(np.ascontiguousarray(to_uint8(frame)), cv2.COLOR_RGB2GRAY)


def flow_estimator():
    """OpenCV's DIS optical flow at its FAST preset: `.calc(source, target, None)` on uint8
    gray frames gives the flow [H,W,2] (x, y) with source(p) ~ target(p + flow(p))."""
    cv2 = _cv2()
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)


def flow_level(long_side):
    """The finest pyramid level DIS refines its flow on, for frames `long_side` pixels long."""
    level = 0
    while level < MAX_FLOW_LEVEL and long_side >> (level + 1) >= MIN_FLOW_GRID:
        level += 1
    return level


def sample_grid(flow):
    """Absolute sampling coordinates (map_x, map_y) of `flow` [H,W,2] for cv2.remap."""
    height, width = flow.shape[:2]
    map_x = flow[..., 0] + np.arange(width, dtype=np.float32)
    map_y = flow[..., 1] + np.arange(height, dtype=np.float32)[:, None]
    return map_x, map_y


def warp(image, grid):
    """`image` [H,W] or [H,W,C] (uint8 or float32) sampled bilinearly at `grid` (from
    `sample_grid`); outside the frame: 0."""
    cv2 = _cv2()
    return cv2.remap(np.ascontiguousarray(image), *grid, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def inside(grid):
    """Bool [H,W] mask of the sampling points within the frame."""
    height, width = grid[0].shape
    return (grid[0] >= 0) & (grid[0] <= width - 1) & (grid[1] >= 0) & (grid[1] <= height - 1)


def consistent(backward, forward, grid):
    """Bool [H,W] mask of frame t's pixels whose backward flow (t -> t-1) lands inside frame
    t-1 and is undone by the forward flow (t-1 -> t) there: not occluded or disoccluded."""
    landed = warp(forward, grid)
    bx, by, lx, ly = backward[..., 0], backward[..., 1], landed[..., 0], landed[..., 1]
    mismatch = (bx + lx) ** 2 + (by + ly) ** 2
    tolerance = FB_RELATIVE * (bx * bx + by * by + lx * lx + ly * ly) + FB_ABSOLUTE
    return inside(grid) & (mismatch <= tolerance)


def motion_boundaries(flow):
    """Bool [H,W] mask where `flow` changes fast, |grad u|^2 + |grad v|^2 >
    MOTION_BOUNDARY_LIMIT (after Ruder et al. 2016): flow estimates smear across such
    edges, and across disocclusions."""
    cv2 = _cv2()
    gradients = [cv2.Sobel(flow, cv2.CV_32F, dx, 1 - dx, ksize=1, scale=0.5) for dx in (0, 1)]
    change = sum(g[..., 0] ** 2 + g[..., 1] ** 2 for g in gradients)
    return change > MOTION_BOUNDARY_LIMIT


class MotionBlender:
    """The consistency filter over a clip's frames: called once per frame, in order. The
    flow, the trust and the weight are computed on copies at most `long_side` pixels long
    (bounding their cost), then scaled up to the frame. `blend`, `blend_moving` and
    `motion_scale` set the weight (module constants by default); `running_start=False`
    and `blend_moving=blend` give the constant-weight filter of the first version."""

    def __init__(self, blend=BLEND, cut_threshold=None, long_side=FLOW_LONG_SIDE,
                 blend_moving=BLEND_MOVING, motion_scale=MOTION_SCALE, running_start=True):
        self._cv2 = _cv2()
        self._flow = flow_estimator()
        self.blend, self.long_side = blend, long_side
        self.blend_moving, self.motion_scale = blend_moving, motion_scale
        self.running_start = running_start
        self._is_cut = SceneCuts(cut_threshold)
        self.restarts = 0  # frames after the first left as stylized: cuts, too little trust
        self._previous = None  # (small uint8 input, its gray, output) of the previous frame
        self._history = None  # float32 [h,w]: frames each (small) pixel's output holds

    def _small(self, content):
        """`content` as uint8 at most `long_side` pixels long."""
        height, width = content.shape[:2]
        scale = min(1.0, self.long_side / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            content = self._cv2.resize(content, size, interpolation=self._cv2.INTER_AREA)
        return to_uint8(content)

    def __call__(self, content, stylized):
        """The output for input frame `content` [H,W,3] (float in [0, 1]) whose per-frame
        stylization is `stylized` (float, same size)."""
        small = self._small(content)
        cut = self._is_cut(small)
        current = (small, gray(small))
        previous, self._previous = self._previous, None
        output = None
        if previous is not None and not cut:
            output = self._blend(previous, current, stylized)
        if output is None:
            self.restarts += previous is not None
            output = stylized
            self._history = None  # every pixel: its own frame only
        self._previous = (*current, output)
        return output

    def trust(self, previous, current, radius=ERODE_RADIUS):
        """(trust [h,w] in [0, 1] of warping frame t-1 onto frame t, backward flow [h,w,2]
        of frame t into frame t-1, its `sample_grid`), all for the small (uint8 RGB, gray)
        frames given; `radius`: of the erosion around failed pixels, in their pixels."""
        cv2 = self._cv2
        (previous_small, previous_gray), (small, current_gray) = previous, current
        self._flow.setFinestScale(flow_level(max(current_gray.shape)))
        backward = self._flow.calc(current_gray, previous_gray, None)
        forward = self._flow.calc(previous_gray, current_gray, None)
        grid = sample_grid(backward)
        valid = consistent(backward, forward, grid) & ~motion_boundaries(backward)
        difference = cv2.subtract(warp(previous_small, grid), small, dtype=cv2.CV_32F)
        if valid.any():  # a global exposure change is no warp error
            difference -= np.array(cv2.mean(difference, mask=valid.view(np.uint8))[:3],
                                   np.float32)
        error = cv2.transform(np.abs(difference), np.full((1, 3), 1 / 765, np.float32))
        # Trust only pixels whose neighbours pass the checks too: flows blur across edges.
        valid = cv2.erode(valid.astype(np.uint8), np.ones((2 * radius + 1,) * 2, np.uint8))
        return np.clip((WARP_ERROR_LIMIT - error) / (WARP_ERROR_LIMIT - WARP_ERROR_TRUSTED),
                       0.0, 1.0) * valid, backward, grid

    def weight(self, trust, backward, grid, scale=(1.0, 1.0)):
        """The blend weight [h,w] of the warped previous output, from `trust` and the
        backward flow [h,w,2] with its `grid` (all small; `scale` (x, y): output pixels per
        flow pixel), and the history length of each pixel, which it advances."""
        cv2 = self._cv2
        speed = cv2.magnitude(backward[..., 0] * np.float32(scale[0]),
                              backward[..., 1] * np.float32(scale[1]))
        moving = np.minimum(speed, self.motion_scale) * np.float32(1.0 / self.motion_scale)
        blend = np.float32(self.blend) + np.float32(self.blend_moving - self.blend) * moving
        if self.running_start:
            if self._history is None:
                history = np.ones(trust.shape, np.float32)
            else:
                history = warp(self._history, grid)
            history *= trust > 0  # an untrusted pixel's history is not carried over
            blend = np.minimum(blend, history / (history + 1))
            self._history = np.minimum(history + 1, MAX_HISTORY)
        return (trust * blend).astype(np.float32)

    def _blend(self, previous, current, stylized):
        """The blended output, or None when too little of the frame can be trusted."""
        height, width = stylized.shape[:2]
        scale = np.array([width / current[1].shape[1], height / current[1].shape[0]],
                         np.float32)
        trust, backward, grid = self.trust(previous[:2], current,
                                           max(1, math.ceil(ERODE_RADIUS / scale.max())))
        if np.mean(trust > 0) < MIN_TRUSTED_SHARE:
            return None
        weight = self.weight(trust, backward, grid, scale)
        cv2 = self._cv2
        if trust.shape != (height, width):
            grid = sample_grid(cv2.multiply(cv2.resize(backward, (width, height)),
                                            (*map(float, scale), 0.0, 0.0)))
            weight = cv2.resize(weight, (width, height))
        warped = warp(previous[2].astype(np.float32, copy=False), grid)
        # weight * warped + (1 - weight) * stylized in one pass (divided by 1 + 1e-5).
        return cv2.blendLinear(warped, np.ascontiguousarray(stylized, np.float32), weight,
                               1.0 - weight)
