"""Video files through the stylize pipeline, decoded and encoded with PyAV (FFmpeg in its wheels).

    summary = video.stylize_video(model, "clip.mp4", "out.mp4", style_vector)

Frames are streamed (decoded, resized to `content_size` with image_io, stylized
`batch_size` at a time by the model's batched `stylize`, or one at a time by tiles or
with a stroke scale, as images are; encoded), so memory stays bounded whatever the clip's
length. One style vector serves the whole clip; for strength < 1 it is blended with one
content vector too, the mean over the first `CONTENT_VECTOR_FRAMES` frames. Each frame
keeps its presentation time (same frame rate and count), the rotation of the display
matrix is applied to the frames (they are stylized and written upright, with no rotation
metadata), and the audio is copied packet for packet where the output container can hold
its codec, re-encoded to the container's default audio codec where it cannot, and dropped
for GIF (a warning line says which). The output is written to a temporary file beside the
target and renamed at the end (`atomic.atomic_file`): a failure or Ctrl-C leaves no output.
"""

import itertools
import pathlib
import sys
import time

import av
import numpy as np

from arbitrary_style import atomic, image_io, inference, progress_bar, temporal, tiling
from arbitrary_style.errors import UserError

# Output extension -> (container format, video encoder, pixel format, encoder options).
SAVE_FORMATS = {
    ".mp4": ("mp4", "libx264", "yuv420p", {"crf": "18", "preset": "superfast"}),
    ".webm": ("webm", "libvpx-vp9", "yuv420p",
              {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}),
    ".gif": ("gif", "gif", "rgb8", {}),
}
# Frames per network call: with the light graphs onnxruntime on 2 cores runs one frame
# at a time fastest (see BUILD_NOTES), and memory stays lowest.
DEFAULT_BATCH_SIZE = 1
# The frames whose mean content vector a strength < 1 blends the style with.
CONTENT_VECTOR_FRAMES = 4
# A clip whose decoded frames end this many frame intervals before its stated duration is
# reported as truncated.
_TRUNCATION_SLACK_FRAMES = 2


def _one_line(error):
    """FFmpeg's reason on one line (without its error number and file name)."""
    text = getattr(error, "strerror", None) or str(error)
    return " ".join(text.split()) or type(error).__name__


def _open(path):
    """The input container of `path`, with at least one video stream."""
    image_io.check_regular_file(path, role="content video")
    try:
        container = av.open(str(path), metadata_errors="replace")
    except av.FFmpegError as error:
        raise UserError(f"{path}: not a video file FFmpeg can read ({_one_line(error)})") from None
    if not container.streams.video:
        container.close()
        raise UserError(f"{path}: holds no video stream")
    return container


def upright(frame):
    """A decoded frame as uint8 RGB [H,W,3], rotated as its display matrix says."""
    pixels = frame.to_ndarray(format="rgb24")
    quarter_turns = round((frame.rotation or 0) / 90) % 4  # counterclockwise
    return np.ascontiguousarray(np.rot90(pixels, quarter_turns)) if quarter_turns else pixels


def _video_frames(container, video, on_audio_packet):
    """Yields the decoded video frames, passing each audio packet to `on_audio_packet`."""
    streams = [video] + ([] if on_audio_packet is None else [container.streams.audio[0]])
    try:
        for packet in container.demux(*streams):
            if packet.stream.type == "audio":
                on_audio_packet(packet)
                continue
            yield from packet.decode()
    except av.FFmpegError as error:
        raise UserError(f"{container.name}: the video breaks off or is corrupt "
                        f"({_one_line(error)})") from None


def _first_frame(path):
    """The first frame of `path`, upright, as uint8 [H,W,3]."""
    with _open(path) as container:
        for frame in _video_frames(container, container.streams.video[0], None):
            return upright(frame)
    raise UserError(f"{path}: no video frame could be decoded (empty, truncated or corrupt)")


def _stylized_size(frame, content_size):
    """(width, height) of `frame` [H,W,3] after `--content_size`."""
    return (image_io.limit_long_side(frame, content_size) if content_size else frame).shape[1::-1]


def _encoded_size(width, height, pixel_format):
    """yuv420p needs even sides: the stylized frame loses its last odd row or column."""
    if pixel_format == "yuv420p":
        return width - width % 2, height - height % 2
    return width, height


class _Output:
    """The output container: the video encoder and the audio (copied or re-encoded)."""

    def __init__(self, path, extension, source, size, time_base, rate):
        fmt, codec, self.pixel_format, options = SAVE_FORMATS[extension]
        self.container = av.open(str(path), "w", format=fmt)
        self.video = self.container.add_stream(codec, rate=rate, options=dict(options))
        self.video.width, self.video.height = _encoded_size(*size, self.pixel_format)
        self.video.pix_fmt = self.pixel_format
        self.video.codec_context.time_base = time_base
        self.audio, self.audio_action = None, None
        if source.streams.audio:
            self._add_audio(source.streams.audio[0])

    def _add_audio(self, audio):
        name = audio.codec_context.name
        if name in self.container.supported_codecs:
            self.audio = self.container.add_stream_from_template(audio)
            self.audio_action, self._transcode = "copied", False
            return
        fallback = self.container.default_audio_codec
        if fallback in (None, "none"):
            self.audio_action = "dropped"
            print(f"warning: {self.container.format.name} cannot hold audio; the {name} audio "
                  "is dropped", file=sys.stderr)
            return
        self.audio = self.container.add_stream(fallback, rate=_audio_rate(fallback, audio.rate),
                                               layout=audio.layout.name)
        self.audio_action, self._transcode = f"re-encoded to {fallback}", True
        print(f"warning: {self.container.format.name} cannot hold {name} audio; re-encoding "
              f"it to {fallback}", file=sys.stderr)

    def audio_packet(self, packet):
        """Copies (or re-encodes) one input audio packet."""
        if self.audio is None:
            return
        try:
            if self._transcode:
                for frame in packet.decode():
                    frame.pts = None
                    self.container.mux(self.audio.encode(frame))
            elif packet.dts is not None:  # the demuxer's final flush packet has none
                packet.stream = self.audio
                self.container.mux(packet)
        except av.FFmpegError as error:
            raise UserError(f"cannot write the audio ({self.audio_action}): "
                            f"{_one_line(error)}") from None

    def write(self, pixels, pts, time_base):
        """Encodes a uint8 [H,W,3] frame at `pts` (in `time_base`)."""
        frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(pixels[:self.video.height, :self.video.width]), format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        self.container.mux(self.video.encode(frame))

    def close(self):
        self.container.mux(self.video.encode())
        if self.audio is not None and self._transcode:
            self.container.mux(self.audio.encode())
        self.container.close()


def _audio_rate(codec, rate):
    """`rate` if the encoder `codec` takes it, else the nearest higher rate it takes (or its
    highest); the encoder resamples."""
    rates = av.Codec(codec, "w").audio_rates
    if not rates or rate in rates:
        return rate
    return min((r for r in rates if r >= rate), default=max(rates))


def _check_complete(container, video, count, last_time):
    """Raises UserError when fewer frames were decoded than the header promises."""
    expected = video.frames
    if expected and count < expected:
        raise UserError(f"{container.name}: the video breaks off after {count} of {expected} "
                        "frames (truncated or corrupt)")
    rate = float(video.average_rate or video.guessed_rate or 0)
    stated = (float(video.duration * video.time_base) if video.duration
              else container.duration / av.time_base if container.duration else None)
    if not expected and rate and stated and last_time is not None and (
            last_time + (1 + _TRUNCATION_SLACK_FRAMES) / rate < stated):
        raise UserError(f"{container.name}: the video breaks off at {last_time:.2f} s of "
                        f"{stated:.2f} s (truncated or corrupt)")


def _batches(frames, size):
    batch = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
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

    def stylize(self, model, pixels, content, vector, preserve_colors=False):
        """Stylizes the consecutive frames `content` [B,H,W,3] (decoded as uint8 `pixels`),
        one at a time so that each uses the moments up to the frame before it."""
        stylized = []
        for frame_pixels, frame in zip(pixels, content, strict=True):
            if self._is_cut(frame_pixels):
                self.state = None
                self.cuts += 1
            weight = 0.0 if self.state is None else self.factor
            image, own = model.stylize_with_moments(
                frame, vector, self.state, weight, preserve_colors=preserve_colors)
            self.state = own if self.state is None else weight * self.state + (1 - weight) * own
            stylized.append(image)
        return np.stack(stylized)


def _check_memory(path, first, size, alpha, budget, batch_size):
    """Raises UserError when a batch of frames like `first`, stylized at `size`, would need
    more than `budget` bytes (None: no limit)."""
    needed = batch_size * inference.estimate_stylize_bytes(first.shape[1::-1], size, alpha)
    if budget is not None and needed > budget:
        raise UserError(f"{path}: stylizing {batch_size} frames of {size[0]}x{size[1]} at a "
                        f"time needs about {needed / 2**20:.0f} MiB of memory, over the budget "
                        "(--max_memory); use a smaller --content_size")


def _check_consistency_memory(path, size, budget):
    """Raises UserError when --temporal_consistency's whole-frame arrays for frames of `size`
    (w, h) would need more than `budget` bytes (None: no limit)."""
    needed = size[0] * size[1] * temporal.BYTES_PER_PIXEL
    if budget is not None and needed > budget:
        raise UserError(f"{path}: --temporal_consistency on frames of {size[0]}x{size[1]} "
                        f"needs about {needed / 2**20:.0f} MiB of memory, over the budget "
                        "(--max_memory); use a smaller --content_size")


def stylize_video(model, content_path, output_path, style_vector, *, strength=1.0,
                  content_size=None, style_size=inference.DEFAULT_STYLE_SIZE,
                  preserve_colors=False, temporal_smoothing=0.0, temporal_consistency=False,
                  tile=0, stroke_scale=1.0, batch_size=DEFAULT_BATCH_SIZE, max_memory=None,
                  progress=True):
    """Stylizes the video `content_path` into `output_path` (.mp4, .webm or .gif); returns a
    summary dict. `tile` and `stroke_scale` stylize each frame as `tiling.stylize` does an
    image (one frame at a time); `temporal_consistency` blends each stylized frame with the
    previous output warped along the motion (`temporal.MotionBlender`). Raises UserError
    for unreadable, truncated or corrupt input, and when a batch of frames would need more
    than `max_memory` bytes."""
    started = time.perf_counter()
    extension = pathlib.Path(output_path).suffix.lower()
    if extension not in SAVE_FORMATS:
        raise UserError(f"{output_path}: unsupported video output extension; use one of "
                        f"{', '.join(SAVE_FORMATS)}")
    per_frame = bool(tile) or stroke_scale != 1.0
    if per_frame and temporal_smoothing:
        raise UserError("--temporal_smoothing cannot be combined with --tile or --stroke_scale")
    blender = temporal.MotionBlender() if temporal_consistency else None
    first = _first_frame(content_path)
    size = _stylized_size(first, content_size)
    if min(size) < inference.MIN_CONTENT_SIDE:
        raise UserError(f"{content_path}: frames are {size[0]}x{size[1]} pixels after "
                        f"--content_size; each side must be at least {inference.MIN_CONTENT_SIDE}")
    work = tiling.work_size(size, stroke_scale)
    if tiling.one_pass(tile, work):  # Tiles bound a frame's memory themselves.
        _check_memory(content_path, first, work, model.config.alpha, max_memory,
                      1 if per_frame else batch_size)
    if blender:
        _check_consistency_memory(content_path, size, max_memory)
    try:
        pathlib.Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"{output_path}: cannot create its directory "
                        f"({error.strerror or error})") from None
    count, last_time = 0, None
    smoother = MomentsSmoother(temporal_smoothing) if temporal_smoothing else None
    with _open(content_path) as source:
        video = source.streams.video[0]
        video.thread_type = "AUTO"
        rate = video.average_rate or video.guessed_rate
        with atomic.atomic_file(output_path) as temporary:
            output = _Output(temporary, extension, source, size, video.time_base, rate)
            bar = progress_bar.bar(total=video.frames or None, unit="frame",
                                   disable=not progress, desc=pathlib.Path(content_path).name)
            try:
                frames = _video_frames(source, video,
                                       output.audio_packet if source.streams.audio else None)
                head = list(itertools.islice(frames, CONTENT_VECTOR_FRAMES))
                vector = _clip_vector(model, head, style_vector, strength, style_size,
                                      content_size)
                for batch in _batches(itertools.chain(head, frames), batch_size):
                    pixels = np.stack([upright(frame) for frame in batch])
                    content = _frame_content(pixels, content_size)
                    if smoother:
                        stylized = smoother.stylize(model, pixels, content, vector,
                                                    preserve_colors)
                    elif per_frame:
                        stylized = np.stack([tiling.stylize(
                            model, frame, vector, tile=tile, stroke_scale=stroke_scale,
                            preserve_colors=preserve_colors) for frame in content])
                    else:
                        stylized = model.stylize(content, vector, preserve_colors=preserve_colors)
                    if blender:
                        stylized = [blender(frame, image)
                                    for frame, image in zip(content, stylized, strict=True)]
                    encoded = np.round(np.clip(stylized, 0.0, 1.0) * 255.0).astype(np.uint8)
                    for frame, image in zip(batch, encoded, strict=True):
                        time_base = frame.time_base or video.time_base
                        pts = (frame.pts if frame.pts is not None
                               else round(count / (rate * time_base)))  # no timestamp: CFR
                        output.write(image, pts, time_base)
                        last_time = float(pts * time_base)
                        count += 1
                    bar.update(len(batch))
                _check_complete(source, video, count, last_time)
                output.close()
            except (av.FFmpegError, OSError) as error:
                raise UserError(f"{output_path}: cannot write the video "
                                f"({_one_line(error)})") from None
            finally:
                bar.close()
    seconds = time.perf_counter() - started
    return {"content": str(content_path), "output": str(output_path), "kind": "video",
            "frames": count, "frame_rate": float(rate) if rate else None,
            "input_size": list(first.shape[1::-1]),
            "output_size": list(_encoded_size(*size, SAVE_FORMATS[extension][2])),
            "audio": output.audio_action, "temporal_smoothing": temporal_smoothing,
            "temporal_consistency": bool(blender), "tile": tile, "stroke_scale": stroke_scale,
            "scene_cuts": smoother.cuts if smoother else None,
            "consistency_restarts": blender.restarts if blender else None,
            "seconds": round(seconds, 3),
            "frames_per_second": round(count / seconds, 2) if seconds else None}


def _frame_content(pixels, content_size):
    """Upright uint8 frames [B,H,W,3] as float32 content, the long side limited to
    `content_size`."""
    content = pixels.astype(np.float32) / np.float32(255.0)
    return image_io.limit_long_side(content, content_size) if content_size else content


def _clip_vector(model, head, style_vector, strength, style_size, content_size):
    """The clip's one vector: the style, blended for strength < 1 with the mean content
    vector of its first frames `head` (none: a stream that broke off, reported later)."""
    if strength >= 1.0 or not head:
        return np.asarray(style_vector, np.float32)
    content = _frame_content(np.stack([upright(frame) for frame in head]), content_size)
    content_vector = np.mean(model.predict_style(content, style_size), axis=0)
    return inference.apply_strength(style_vector, content_vector, strength)
