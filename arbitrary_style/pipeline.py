"""The one stylization pipeline: a model (any backend), a style vector and options in;
stylized arrays, files and video frames out. The stylize, batch and video paths and
`optimize --init fast` all call it; the commands only turn flags into `StylizeOptions`.

    vector = pipeline.style_vector(model, [("a.jpg", 0.7), ("b.jpg", 0.3)])
    stylizer = pipeline.Stylizer(model, vector, pipeline.StylizeOptions(strength=0.8))
    stylizer.file("photo.jpg", "out.png")              # checks memory, loads, writes
    stylized = stylizer.array(content)                 # float [0,1] or uint8 [H,W,3]
    for key, frame in stylizer.stream().frames((key, pixels) for ...):  # uint8 video
        ...

Inside: content resized to `content_size`, strength as a blend with the content's own
vector, tiles (see `tiling`) when the memory plan asks for them, strokes `stroke_scale`
times the network's own size, colours kept on request; for video, one vector per clip,
temporal smoothing or motion-compensated consistency.
"""

import concurrent.futures
import dataclasses
import itertools
import resource
import time

import numpy as np

from arbitrary_style import image_io, memory, norm_params, specs, temporal, tiling
from arbitrary_style.errors import UserError
from arbitrary_style.model_config import DEFAULT_STYLE_SIZE, MIN_CONTENT_SIDE
from arbitrary_style.style_vectors import apply_strength, blend_style_vectors
from arbitrary_style.weights.registry import DEFAULT_WEIGHTS

# The frames whose mean content vector a strength < 1 blends a clip's style with.
CONTENT_VECTOR_FRAMES = 4


@dataclasses.dataclass(frozen=True)
class StylizeOptions:
    """How each content is stylized. `content_size`: the longer side's limit (0: as is);
    `max_memory`: the budget in bytes (None: no limit); `temporal_*`: videos only."""

    strength: float = 1.0
    content_size: int = 0
    style_size: int = DEFAULT_STYLE_SIZE
    preserve_colors: bool = False
    tile: int = 0
    stroke_scale: float = 1.0
    max_memory: int | None = None
    max_pixels: int = image_io.DEFAULT_MAX_PIXELS
    temporal_smoothing: float = 0.0
    temporal_consistency: bool = False


def style_vector(model, styles, *, weights_name=DEFAULT_WEIGHTS, style_size=DEFAULT_STYLE_SIZE,
                 max_pixels=image_io.DEFAULT_MAX_PIXELS, read_image=None):
    """The blended vector of (path, weight) entries (`specs.parse_styles`): style images,
    read with `read_image(path)` (default: `image_io.load_image` within `max_pixels`), or
    `@NAME` tuned styles, which must have been tuned for the weights `weights_name`."""
    read_image = read_image or (lambda path: image_io.load_image(path, max_pixels=max_pixels))
    vectors = [_tuned_style(path, weights_name).vector if specs.is_tuned_style(path)
               else model.predict_style(read_image(path), style_size)
               for path, _ in styles]
    return blend_style_vectors(vectors, [weight for _, weight in styles])


def _tuned_style(path, weights_name):
    """The tuned style `@NAME` (`tuned_styles` is imported only when one is used)."""
    from arbitrary_style import tuned_styles

    return tuned_styles.style_for(str(path)[1:], weights_name)


def norm_offsets(model, styles, *, weights_name=DEFAULT_WEIGHTS):
    """The norm offsets [M] (`norm_params.flatten`) of the blend of the tuned styles among
    (path, weight) entries (`tuned_styles.norm_offsets_of_entries`); None when they have
    none."""
    if not any(specs.is_tuned_style(path) for path, _ in styles):
        return None
    from arbitrary_style import tuned_styles

    return norm_params.flatten(tuned_styles.norm_offsets_of_entries(styles, weights_name),
                               model.config.alpha)


class Stylizer:
    """A model, a style vector (and a tuned style's norm offsets [M], see `norm_offsets`)
    and `StylizeOptions`: the calls every caller needs. `strength` blends the vector with
    the content's own and scales the offsets (the content has none)."""

    def __init__(self, model, style_vector, options=StylizeOptions(), norm_offsets=None):
        self.model = model
        self.style_vector = np.asarray(style_vector, np.float32)
        self.options = options
        self.norm_offsets = (None if norm_offsets is None else
                             np.float32(options.strength) * np.asarray(norm_offsets, np.float32))

    def plan(self, path):
        """The memory plan (`memory.Plan`) for the image file `path`, from its header (None
        for a file that loading will report); UserError when it cannot fit the budget."""
        o = self.options
        return memory.plan_file(path, self.model.config.alpha, o.content_size, o.max_memory,
                                o.tile, o.stroke_scale)

    def array(self, content, input_size=None):
        """Content [H,W,3] (float in [0,1], or uint8 for huge images) -> stylized array of
        the same dtype: shrunk to `content_size`, by tiles when the plan asks for them.
        `input_size`: the (w, h) of the image `content` was already shrunk from."""
        o = self.options
        input_size = input_size or content.shape[1::-1]
        if o.content_size:
            content = image_io.limit_long_side(content, o.content_size)
        vector = self.style_vector
        if o.strength < 1.0:
            source = tiling.thumbnail(content) if content.dtype == np.uint8 else content
            vector = apply_strength(vector, self.model.predict_style(source, o.style_size),
                                    o.strength)
        layout = memory.plan(input_size, content.shape[1::-1], self.model.config.alpha,
                             budget=o.max_memory, tile=o.tile, stroke_scale=o.stroke_scale)
        return tiling.stylize(self.model, content, vector, tile=layout.tile,
                              thumbnail_size=layout.thumbnail, stroke_scale=o.stroke_scale,
                              norm_offsets=self.norm_offsets, preserve_colors=o.preserve_colors)

    def image(self, path, plan=None):
        """(stylized array, the input's (w, h), its memory plan) of the image file `path`:
        planned (unless `plan` is given), loaded (as uint8 when tiled) and stylized."""
        plan = plan or self.plan(path)
        content = image_io.load_image(path, max_pixels=self.options.max_pixels,
                                      as_uint8=bool(plan and plan.tile))
        input_size = content.shape[1::-1]
        if self.options.content_size:
            # Shrunk here (as `array` would), so that the full-size array is freed before
            # the network runs: 12 MiB less peak memory for a 1024 px photo at 384 px.
            content = image_io.limit_long_side(content, self.options.content_size)
        try:
            return self.array(content, input_size), input_size, plan
        except ValueError as error:  # e.g. an image too small for the network
            raise UserError(f"{path}: {error}") from None

    def file(self, path, output_path):
        """Stylizes the image file `path` into `output_path` (written atomically); returns
        its summary (sizes, tiles, estimated and peak memory, seconds)."""
        started = time.perf_counter()
        stylized, input_size, plan = self.image(path)
        image_io.save_image(stylized, output_path)
        return {"content": str(path), "output": str(output_path),
                "input_size": list(input_size), "output_size": list(stylized.shape[1::-1]),
                "stroke_scale": self.options.stroke_scale,
                **({"tile": plan.tile, "tiles": plan.tiles, "thumbnail": plan.thumbnail,
                    "estimated_bytes": plan.estimated_bytes} if plan else {}),
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "seconds": round(time.perf_counter() - started, 3)}

    def frame_size(self, label, first_frame, batch_size=1):
        """The (w, h) that frames like `first_frame` [H,W,3] are stylized at; UserError
        (naming `label`) when that is too small, or needs more than the memory budget."""
        o = self.options
        if (o.tile or o.stroke_scale != 1.0) and o.temporal_smoothing:
            raise UserError("--temporal_smoothing cannot be combined with --tile or "
                            "--stroke_scale")
        size = memory.output_size(first_frame.shape[1::-1], o.content_size)
        if min(size) < MIN_CONTENT_SIDE:
            raise UserError(f"{label}: frames are {size[0]}x{size[1]} pixels after "
                            f"--content_size; each side must be at least {MIN_CONTENT_SIDE}")
        work = memory.work_size(size, o.stroke_scale)
        if memory.one_pass(o.tile, work):  # Tiles bound a frame's memory themselves.
            frames = 1 if self.per_frame else batch_size
            memory.check_fits(frames * self._frame_bytes(first_frame), o.max_memory,
                              f"{label}: stylizing {frames} frames of {work[0]}x{work[1]} "
                              "at a time")
        if o.temporal_consistency:
            memory.check_fits(size[0] * size[1] * temporal.BYTES_PER_PIXEL, o.max_memory,
                              f"{label}: --temporal_consistency on frames of "
                              f"{size[0]}x{size[1]}")
        return size

    def frames_per_call(self, first_frame, most):
        """Frames like `first_frame` [H,W,3] to stylize per network call: `most`, fewer
        when the memory budget holds fewer, 1 when frames go one at a time (tiles,
        strokes, temporal smoothing)."""
        o = self.options
        if self.per_frame or o.temporal_smoothing:
            return 1
        if o.max_memory is None:
            return most
        return max(1, min(most, o.max_memory // self._frame_bytes(first_frame)))

    def _frame_bytes(self, first_frame):
        """Estimated bytes to stylize one frame like `first_frame` in one pass."""
        o = self.options
        work = memory.work_size(memory.output_size(first_frame.shape[1::-1], o.content_size),
                                o.stroke_scale)
        return memory.estimate_stylize_bytes(first_frame.shape[1::-1], work,
                                             self.model.config.alpha,
                                             moments=bool(o.temporal_smoothing))

    @property
    def per_frame(self):
        """Whether frames go through the network one at a time, as images (tiles or strokes)."""
        return bool(self.options.tile) or self.options.stroke_scale != 1.0

    def stream(self, batch_size=1):
        """A `FrameStream` for one clip, `batch_size` frames per network call."""
        return FrameStream(self, batch_size)


class FrameStream:
    """The stylized frames of one clip. One style vector for the clip (for strength < 1
    blended with the mean content vector of its first CONTENT_VECTOR_FRAMES frames); each
    frame shrunk to `content_size` and stylized `batch_size` at a time (one at a time by
    tiles, with a stroke scale, or with temporal smoothing), then, with
    `temporal_consistency`, blended with the previous output warped along the motion
    (`temporal.MotionBlender`). `scene_cuts` and `restarts` count what the temporal
    filters saw."""

    def __init__(self, stylizer, batch_size=1):
        options = stylizer.options
        self._stylizer, self._batch_size = stylizer, batch_size
        self._smoother = (MomentsSmoother(options.temporal_smoothing)
                          if options.temporal_smoothing else None)
        self._blender = temporal.MotionBlender() if options.temporal_consistency else None

    @property
    def scene_cuts(self):
        return self._smoother.cuts if self._smoother else None

    @property
    def restarts(self):
        return self._blender.restarts if self._blender else None

    def frames(self, items):
        """(key, uint8 upright frame [H,W,3]) items in -> (key, uint8 stylized frame) out,
        in order. Each batch is stylized on a worker thread while the caller's loop
        takes the previous batch's frames and `items` gives the next (decoding and
        encoding overlap the network)."""
        items = iter(items)
        head = list(itertools.islice(items, CONTENT_VECTOR_FRAMES))
        vector = self._clip_vector([pixels for _, pixels in head])
        with concurrent.futures.ThreadPoolExecutor(1) as worker:
            pending = None  # (keys, future stylized frames) of the batch before
            for batch in _batches(itertools.chain(head, items), self._batch_size):
                stylizing = ([key for key, _ in batch], worker.submit(
                    self._stylize, np.stack([frame for _, frame in batch]), vector))
                if pending:
                    yield from zip(pending[0], pending[1].result(), strict=True)
                pending = stylizing
            if pending:
                yield from zip(pending[0], pending[1].result(), strict=True)

    def _content(self, pixels):
        """uint8 frames [B,H,W,3] as float32 content within `content_size`."""
        content = image_io.to_float(pixels)
        size = self._stylizer.options.content_size
        return image_io.limit_long_side(content, size) if size else content

    def _clip_vector(self, head):
        """The clip's one vector: the style, blended for strength < 1 with the mean content
        vector of its first frames `head` (none: a stream that broke off)."""
        stylizer = self._stylizer
        options = stylizer.options
        if options.strength >= 1.0 or not head:
            return stylizer.style_vector
        content_vector = np.mean(stylizer.model.predict_style(
            self._content(np.stack(head)), options.style_size), axis=0)
        return apply_strength(stylizer.style_vector, content_vector, options.strength)

    def _stylize(self, pixels, vector):
        """uint8 stylized frames of consecutive uint8 frames [B,H,W,3]."""
        model, options = self._stylizer.model, self._stylizer.options
        offsets = self._stylizer.norm_offsets
        content = self._content(pixels)
        if self._smoother:
            stylized = self._smoother.stylize(model, pixels, content, vector,
                                              options.preserve_colors, norm_offsets=offsets)
        elif self._stylizer.per_frame:
            stylized = np.stack([tiling.stylize(
                model, frame, vector, tile=options.tile, stroke_scale=options.stroke_scale,
                norm_offsets=offsets, preserve_colors=options.preserve_colors)
                for frame in content])
        else:
            stylized = model.stylize(content, vector, norm_offsets=offsets,
                                     preserve_colors=options.preserve_colors)
        if self._blender:
            stylized = [self._blender(frame, image)
                        for frame, image in zip(content, stylized, strict=True)]
        return image_io.to_uint8(np.asarray(stylized))


def _batches(items, size):
    """Lists of `size` consecutive items (the last one may be shorter)."""
    items = iter(items)
    while batch := list(itertools.islice(items, size)):
        yield batch


class MomentsSmoother:
    """Temporal smoothing: an exponential moving average of the transformer's instance-norm
    moments (the per-frame statistics that make a per-frame network flicker), reset at
    scene cuts so that no statistics of one shot leak into the next.

    Frame t is normalised with `s_t = factor * s_{t-1} + (1 - factor) * own_t` (one network
    pass: `stylize_with_moments` mixes the given `s_{t-1}` with the frame's own moments).
    """

    def __init__(self, factor, cut_threshold=None):
        if not 0.0 <= factor < 1.0:
            raise ValueError(f"temporal smoothing must be in [0, 1), got {factor}")
        self.factor = factor
        self._is_cut = temporal.SceneCuts(cut_threshold)
        self.state, self.cuts = None, 0

    def stylize(self, model, pixels, content, vector, preserve_colors=False, *,
                norm_offsets=None):
        """Stylizes the consecutive frames `content` [B,H,W,3] (decoded as uint8 `pixels`),
        one at a time so that each uses the moments up to the frame before it."""
        stylized = []
        for frame_pixels, frame in zip(pixels, content, strict=True):
            if self._is_cut(frame_pixels):
                self.state = None
                self.cuts += 1
            weight = 0.0 if self.state is None else self.factor
            image, own = model.stylize_with_moments(
                frame, vector, self.state, weight, norm_offsets=norm_offsets,
                preserve_colors=preserve_colors)
            self.state = own if self.state is None else weight * self.state + (1 - weight) * own
            stylized.append(image)
        return np.stack(stylized)
