"""Video files through the stylize pipeline, decoded and encoded with PyAV (FFmpeg in its wheels).

    summary = video.stylize_video(pipeline.Stylizer(model, vector, options), "clip.mp4",
                                  "out.mp4")

Frames are streamed (decoded, stylized by `pipeline.FrameStream`, encoded), so memory
stays bounded whatever the clip's length. Each frame
keeps its presentation time (same frame rate and count), the rotation of the display
matrix is applied to the frames (they are stylized and written upright, with no rotation
metadata), and the audio is copied packet for packet where the output container can hold
its codec, re-encoded to the container's default audio codec where it cannot, and dropped
for GIF (a warning line says which). The output is written to a temporary file beside the
target and renamed at the end (`atomic.atomic_file`): a failure or Ctrl-C leaves no output.
"""

import os
import pathlib
import sys
import time

import av
import numpy as np

from arbitrary_style import atomic, image_io, progress_bar
from arbitrary_style.errors import UserError

# Output extension -> (container format, video encoder, pixel format, encoder options).
SAVE_FORMATS = {
    ".mp4": ("mp4", "libx264", "yuv420p", {"crf": "18", "preset": "superfast"}),
    ".webm": ("webm", "libvpx-vp9", "yuv420p",
              {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}),
    ".gif": ("gif", "gif", "rgb8", {}),
}
# Most frames per network call by default: one per CPU up to this many (the light backend
# runs a call's frames concurrently, one per thread: see BUILD_NOTES, issue 26), fewer
# when the memory budget holds fewer (`Stylizer.frames_per_call`).
MAX_DEFAULT_BATCH_SIZE = 4
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


def stylize_video(stylizer, content_path, output_path, *, batch_size=None, progress=True):
    """Stylizes the video `content_path` into `output_path` (.mp4, .webm or .gif) with a
    `pipeline.Stylizer` (its options apply to each frame; see `pipeline.FrameStream`),
    `batch_size` frames per network call (None: one per CPU, at most
    MAX_DEFAULT_BATCH_SIZE, as many as the memory budget holds); returns a summary dict.
    Raises UserError for unreadable, truncated or corrupt input, and when frames would
    need more than the memory budget."""
    started = time.perf_counter()
    extension = pathlib.Path(output_path).suffix.lower()
    if extension not in SAVE_FORMATS:
        raise UserError(f"{output_path}: unsupported video output extension; use one of "
                        f"{', '.join(SAVE_FORMATS)}")
    first = _first_frame(content_path)
    batch_size = batch_size or stylizer.frames_per_call(
        first, min(MAX_DEFAULT_BATCH_SIZE, len(os.sched_getaffinity(0))))
    size = stylizer.frame_size(content_path, first, batch_size)
    stream = stylizer.stream(batch_size)
    try:
        pathlib.Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"{output_path}: cannot create its directory "
                        f"({error.strerror or error})") from None
    count, last_time = 0, None
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
                for frame, image in stream.frames((frame, upright(frame)) for frame in frames):
                    time_base = frame.time_base or video.time_base
                    pts = (frame.pts if frame.pts is not None
                           else round(count / (rate * time_base)))  # no timestamp: CFR
                    output.write(image, pts, time_base)
                    last_time = float(pts * time_base)
                    count += 1
                    bar.update(1)
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
            "audio": output.audio_action,
            "temporal_smoothing": stylizer.options.temporal_smoothing,
            "temporal_consistency": stylizer.options.temporal_consistency,
            "tile": stylizer.options.tile, "stroke_scale": stylizer.options.stroke_scale,
            "scene_cuts": stream.scene_cuts, "consistency_restarts": stream.restarts,
            "seconds": round(seconds, 3),
            "frames_per_second": round(count / seconds, 2) if seconds else None}

