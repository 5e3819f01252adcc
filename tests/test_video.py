"""Video files through the stylize command (arbitrary_style/video.py, PyAV).

The clips are made here with PyAV (tiny: 64..320 pixels, 10-300 frames). Outputs are
checked against the image path (`pipeline.Stylizer.array` on each decoded input frame, then the
same 8-bit rounding): exactly (max difference 0) through a lossless FFV1 encoder put in
for the test, and through the real lossy encoders (H.264 crf 18 / VP9, yuv420p) within a
mean absolute luma difference of 6/255, where the reference of another frame is at least
2.5 times further away (measured at 96x64: own 3-4/255, others 14-20/255; the chroma is
not compared, 4:2:0 subsampling alone costs ~5/255 on stylized textures this small).
"""

import fractions
import json
import os
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest
from PIL import Image

from arbitrary_style import backends, image_io, pipeline, video
from arbitrary_style.errors import UserError
from arbitrary_style.specs import plan_outputs
from conftest import default_sigint, style_vector_of, stylize_video, stylizer
from test_stylize_cli import (CONTENT, STYLE_A, STYLE_B, TWO_STYLES, describe, error_lines,
                              our_stderr_lines, run_cli)

RATE = fractions.Fraction(30000, 1001)  # NTSC: a frame rate that is not an integer
LUMA_TOLERANCE = 6 / 255  # mean |Y(output) - Y(image path)| allowed for the lossy encoders


def pattern_frames(width, height, count, seed=0):
    """Frames with a moving bright bar over a sample photo (so each frame differs)."""
    photo = np.asarray(Image.open(CONTENT).convert("RGB").resize((width, height)))
    frames = []
    for index in range(count):
        frame = photo.copy()
        left = (index * 7 + seed) % max(1, width - 8)
        frame[:, left:left + 8] = [250, 240, 60]
        frames.append(frame)
    return frames


def write_clip(path, frames, *, codec="libx264", pix_fmt="yuv420p", rate=RATE,
               rotation=None, audio=None, options=None):
    """Encodes uint8 frames; `audio` names an audio codec for a 440 Hz mono sine track at
    44.1 kHz (which Opus cannot take: re-encoding to webm resamples)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, options=options or {})
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = pix_fmt
        if rotation is not None:
            stream.set_display_rotation(rotation)
        sound = container.add_stream(audio, rate=44100, layout="mono") if audio else None
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if sound is not None:
            seconds = len(frames) / rate
            t = np.arange(int(44100 * seconds)) / 44100
            samples = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)[None]
            chunk = 1024
            for start in range(0, samples.shape[1], chunk):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(
                    samples[:, start:start + chunk]), format="s16", layout="mono")
                frame.sample_rate, frame.pts = 44100, start
                container.mux(sound.encode(frame))
            container.mux(sound.encode())


def decode(path):
    """(uint8 frames as decoded, frame times in seconds, the video stream's average rate)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames, times = [], []
        for frame in container.decode(stream):
            frames.append(video.upright(frame))
            times.append(float(frame.pts * frame.time_base))
        return frames, times, stream.average_rate


def audio_packets(path):
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    """Tiny clips made with PyAV, shared by the tests."""
    directory = tmp_path_factory.mktemp("clips")
    paths = {
        "audio": directory / "with_audio.mp4",
        "rotated": directory / "rotated.mov",
        "lossless": directory / "odd_lossless.mkv",
        "gif": directory / "animated.gif",
        "long": directory / "long.mp4",
        "cut": directory / "cut.mp4",
    }
    write_clip(paths["audio"], pattern_frames(96, 64, 16), audio="aac")
    write_clip(paths["rotated"], pattern_frames(96, 64, 10), rotation=-90)
    write_clip(paths["lossless"], pattern_frames(97, 65, 12), codec="ffv1", pix_fmt="bgr0")
    gif_frames = [Image.fromarray(f) for f in pattern_frames(80, 64, 10)]
    gif_frames[0].save(paths["gif"], save_all=True, append_images=gif_frames[1:], duration=50,
                       loop=0)
    write_clip(paths["long"], pattern_frames(320, 192, 300), rate=30)
    cut_frames = (pattern_frames(96, 64, 8)
                  + [255 - f for f in pattern_frames(96, 64, 8, seed=3)])
    write_clip(paths["cut"], cut_frames, rate=24)
    good = paths["audio"].read_bytes()
    paths["corrupt"] = directory / "corrupt.mp4"
    paths["corrupt"].write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4000,
                                                                         dtype=np.uint8)))
    paths["text"] = directory / "notes.webm"
    paths["text"].write_text("this is not a video\n")
    # A Matroska file cut in the middle: the header says more than the data holds.
    paths["truncated"] = directory / "truncated.mkv"
    write_clip(paths["truncated"], pattern_frames(96, 64, 48), codec="ffv1", pix_fmt="bgr0")
    data = paths["truncated"].read_bytes()
    paths["truncated"].write_bytes(data[:len(data) // 2])
    # An MP4 whose index (moov) is gone: FFmpeg cannot open it.
    paths["cut_mp4"] = directory / "no_index.mp4"
    assert good.find(b"moov") > len(good) // 2  # PyAV writes the index at the end
    paths["cut_mp4"].write_bytes(good[:len(good) // 2])
    return paths


@pytest.fixture(scope="session")
def reference(weights_home):
    """stylized(frames, styles, vector=None) -> the image path's result for each frame
    (uint8), with the styles' vector or the `vector` given."""
    previous = os.environ.get("ARBITRARY_STYLE_HOME")
    os.environ["ARBITRARY_STYLE_HOME"] = str(weights_home)
    try:
        from arbitrary_style.weights import store

        model = backends.load(store.resolve_weights(None), "light")
    finally:
        os.environ["ARBITRARY_STYLE_HOME"] = previous or ""
        if previous is None:
            del os.environ["ARBITRARY_STYLE_HOME"]

    def stylized(frames, styles=((STYLE_A, 1.0),), vector=None, **options):
        if vector is None:
            vector = style_vector_of(model, [p for p, _ in styles], [w for _, w in styles])
        return [image_io.to_uint8(stylizer(model, vector, **options).array(
            image_io.to_float(f))) for f in frames]

    stylized.model = model
    return stylized


def mean_abs(a, b):
    return float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32)))) / 255


def luma(frame):
    return frame.astype(np.float32) @ image_io._RGB_TO_YUV[:, :1]


def assert_matches(outputs, references):
    """Each output frame's luma within LUMA_TOLERANCE of its reference's, and much closer to
    it than to the reference of a frame further on (so the check can fail)."""
    assert len(outputs) == len(references)
    for index, (out, ref) in enumerate(zip(outputs, references)):
        height, width = out.shape[:2]
        other_ref = references[(index + 5) % len(references)]
        own = mean_abs(luma(out), luma(ref[:height, :width]))
        other = mean_abs(luma(out), luma(other_ref[:height, :width]))
        assert own < LUMA_TOLERANCE, (index, own)
        assert other > 2.5 * own, (index, own, other)


def run_json(args, tmp_path, weights_home):
    result = run_cli([*args, "--json"], cwd=tmp_path, home=weights_home)
    assert result.returncode == 0, describe(result)
    return json.loads(result.stdout), result


def test_mp4_keeps_frames_timing_and_audio_and_matches_the_image_path(
        clips, reference, weights_home, tmp_path):
    summary, result = run_json(["--content", clips["audio"], "--styles", TWO_STYLES,
                                "--output", "out.mp4"], tmp_path, weights_home)
    [entry] = summary["outputs"]
    frames_in, times_in, rate_in = decode(clips["audio"])
    frames_out, times_out, rate_out = decode(tmp_path / "out.mp4")
    assert entry["kind"] == "video" and entry["frames"] == len(frames_in) == 16
    assert entry["audio"] == "copied" and entry["output_size"] == [96, 64]
    assert entry["frame_rate"] == pytest.approx(float(RATE))
    assert rate_out == rate_in == RATE
    assert times_out == pytest.approx(times_in, abs=1e-3)
    packets = audio_packets(clips["audio"])
    assert packets and audio_packets(tmp_path / "out.mp4") == packets
    assert_matches(frames_out, reference(frames_in, [(STYLE_A, 0.7), (STYLE_B, 0.3)]))
    assert not [line for line in our_stderr_lines(result.stderr) if "warning" in line]


def test_lossless_encode_equals_the_image_path_exactly(clips, reference, tmp_path,
                                                      monkeypatch):
    monkeypatch.setitem(video.SAVE_FORMATS, ".mkv", ("matroska", "ffv1", "bgr0", {}))
    vector = style_vector_of(reference.model, [STYLE_A])
    summary = stylize_video(reference.model, clips["lossless"], tmp_path / "out.mkv",
                                  vector, content_size=64, batch_size=5, progress=False)
    frames_in = decode(clips["lossless"])[0]
    frames_out = decode(tmp_path / "out.mkv")[0]
    expected = reference(frames_in, content_size=64)
    assert summary["frames"] == len(frames_out) == len(expected) == 12
    assert frames_out[0].shape == (43, 64, 3)  # odd sizes kept: no 4:2:0 here
    for out, ref in zip(frames_out, expected, strict=True):
        assert np.array_equal(out, ref)


def test_stroke_scale_and_tiles_apply_per_frame_as_for_images(clips, reference, tmp_path,
                                                              monkeypatch):
    monkeypatch.setitem(video.SAVE_FORMATS, ".mkv", ("matroska", "ffv1", "bgr0", {}))
    vector = style_vector_of(reference.model, [STYLE_A])
    frames_in = decode(clips["lossless"])[0]
    plain = reference(frames_in)
    for options in ({"stroke_scale": 2.0}, {"tile": 256, "stroke_scale": 0.5}):
        summary = stylize_video(reference.model, clips["lossless"], tmp_path / "out.mkv",
                                      vector, progress=False, **options)
        assert summary["stroke_scale"] == options["stroke_scale"]
        frames_out = decode(tmp_path / "out.mkv")[0]
        expected = reference(frames_in, **options)
        for out, ref in zip(frames_out, expected, strict=True):
            assert np.array_equal(out, ref)
        assert mean_abs(frames_out[0], plain[0]) > 0.01  # the option changed the frames
    with pytest.raises(UserError, match="--temporal_smoothing cannot be combined"):
        stylize_video(reference.model, clips["lossless"], tmp_path / "x.mkv", vector,
                            stroke_scale=2.0, temporal_smoothing=0.9, progress=False)
    assert not (tmp_path / "x.mkv").exists()


def test_strength_gives_one_clip_vector_whatever_the_batch(clips, reference, tmp_path,
                                                           monkeypatch):
    """strength < 1 pulls every frame towards its content (closer than full style, further
    than strength 0.1), with one vector for the clip: the frames do not depend on how they
    are batched, and differ from blending each frame with its own content vector."""
    monkeypatch.setitem(video.SAVE_FORMATS, ".mkv", ("matroska", "ffv1", "bgr0", {}))
    model = reference.model
    style = style_vector_of(model, [STYLE_A])
    frames_in = decode(clips["lossless"])[0]
    outputs = {}
    for strength, batch_size in ((1.0, 1), (0.5, 1), (0.5, 3), (0.1, 2)):
        stylize_video(model, clips["lossless"], tmp_path / "out.mkv", style,
                      strength=strength, batch_size=batch_size)
        outputs[strength, batch_size] = decode(tmp_path / "out.mkv")[0]
        assert len(outputs[strength, batch_size]) == len(frames_in)
    for one, three in zip(outputs[0.5, 1], outputs[0.5, 3], strict=True):
        assert np.array_equal(one, three)
    for index, frame in enumerate(frames_in):
        distance = {key: mean_abs(out[index], frame) for key, out in outputs.items()}
        assert distance[0.1, 2] < distance[0.5, 1] < distance[1.0, 1], (index, distance)
    per_frame = reference(frames_in, vector=style, strength=0.5)  # each its own vector
    assert max(mean_abs(a, b) for a, b in zip(outputs[0.5, 1], per_frame, strict=True)) > 1e-3


def test_odd_sized_lossless_mkv_to_mp4_crops_to_even_and_to_webm(
        clips, reference, weights_home, tmp_path):
    frames_in, times_in, _ = decode(clips["lossless"])
    references = reference(frames_in)
    for name in ("out.mp4", "out.webm"):
        summary, _ = run_json(["--content", clips["lossless"], "--styles", STYLE_A,
                               "--output", name], tmp_path, weights_home)
        assert summary["outputs"][0]["output_size"] == [96, 64]
        frames_out, times_out, _ = decode(tmp_path / name)
        assert frames_out[0].shape == (64, 96, 3)
        assert times_out == pytest.approx(times_in, abs=2e-3)
        assert_matches(frames_out, references)
    with av.open(str(tmp_path / "out.webm")) as container:
        assert container.streams.video[0].codec_context.name == "vp9"


def test_rotation_is_applied_before_stylizing(clips, reference, weights_home, tmp_path):
    summary, _ = run_json(["--content", clips["rotated"], "--styles", STYLE_A],
                          tmp_path, weights_home)
    output = tmp_path / "rotated_stylized.mp4"  # the default name for a video
    assert summary["outputs"][0]["output"] == "rotated_stylized.mp4"
    with av.open(str(clips["rotated"])) as container:
        raw = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert container.streams.video[0].width == 96
    upright = [np.rot90(f, -1) for f in raw]  # display matrix -90: a quarter turn clockwise
    frames_out, _, _ = decode(output)
    assert frames_out[0].shape == (96, 64, 3)
    with av.open(str(output)) as container:
        assert next(container.decode(video=0)).rotation == 0  # no rotation left to apply
    assert_matches(frames_out, reference(upright))


def test_gif_in_gif_out_and_audio_warnings(clips, weights_home, tmp_path):
    assert image_io.is_video_file(clips["gif"]) and not image_io.is_video_file(CONTENT)
    still = tmp_path / "still.gif"
    Image.open(CONTENT).save(still)
    assert not image_io.is_video_file(still) and image_io.is_image_file(still)
    summary, _ = run_json(["--content", clips["gif"], "--styles", STYLE_A,
                           "--output", "out.gif"], tmp_path, weights_home)
    frames_out, times_out, _ = decode(tmp_path / "out.gif")
    frames_in, times_in, _ = decode(clips["gif"])
    assert len(frames_out) == len(frames_in) == summary["outputs"][0]["frames"] == 10
    assert times_out == pytest.approx(times_in, abs=0.011)  # GIF delays are centiseconds
    for name, action in (("a.gif", "dropped"), ("a.webm", "re-encoded to opus")):
        summary, result = run_json(["--content", clips["audio"], "--styles", STYLE_A,
                                    "--output", name], tmp_path, weights_home)
        assert summary["outputs"][0]["audio"] == action
        warnings = [l for l in our_stderr_lines(result.stderr) if l.startswith("warning:")]
        assert len(warnings) == 1 and "audio" in warnings[0], describe(result)
    assert audio_packets(tmp_path / "a.webm") and not audio_packets(tmp_path / "a.gif")


def test_directory_mixing_images_and_videos(clips, weights_home, tmp_path):
    contents = tmp_path / "contents"
    contents.mkdir()
    (contents / "photo.jpg").write_bytes(CONTENT.read_bytes())
    (contents / "clip.mp4").write_bytes(clips["audio"].read_bytes())
    (contents / "anim.gif").write_bytes(clips["gif"].read_bytes())
    (contents / "broken.mkv").write_bytes(clips["corrupt"].read_bytes())
    result = run_cli(["--content", contents, "--styles", STYLE_A, "--output", "out/",
                      "--content_size", "64", "--json"], cwd=tmp_path, home=weights_home)
    assert result.returncode == 1, describe(result)
    summary = json.loads(result.stdout)
    assert [f["content"] for f in summary["failed"]] == [str(contents / "broken.mkv")]
    assert error_lines(result.stderr)[-1] == "error: 1 of 4 content files failed"
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["anim_stylized.mp4", "clip_stylized.mp4", "photo_stylized.png"]
    kinds = {os.path.basename(e["output"]): e.get("kind", "image") for e in summary["outputs"]}
    assert kinds == {"anim_stylized.mp4": "video", "clip_stylized.mp4": "video",
                     "photo_stylized.png": "image"}
    clip = next(e for e in summary["outputs"] if e["output"].endswith("clip_stylized.mp4"))
    assert clip["output_size"] == [64, 42]  # 96x64 shrunk to 64 wide, then made even
    assert decode(tmp_path / "out" / "clip_stylized.mp4")[0][0].shape == (42, 64, 3)


@pytest.mark.parametrize("case, fragments", [
    ("corrupt", ["corrupt.mp4", "not a video file"]),
    ("text", ["notes.webm", "not a video file"]),
    ("cut_mp4", ["no_index.mp4"]),
    ("truncated", ["truncated.mkv", "breaks off"]),
])
def test_bad_videos_are_one_error_line_and_write_nothing(
        case, fragments, clips, weights_home, tmp_path):
    result = run_cli(["--content", clips[case], "--styles", STYLE_A, "--output", "out.mp4"],
                     cwd=tmp_path, home=weights_home)
    assert result.returncode != 0 and "Traceback" not in result.stderr, describe(result)
    [line] = error_lines(result.stderr)
    assert all(f in line for f in fragments), describe(result)
    assert os.listdir(tmp_path) == [], os.listdir(tmp_path)


def test_a_stream_that_breaks_midway_leaves_no_output(clips, reference, tmp_path, monkeypatch):
    """A demuxer error after some frames were encoded: UserError, and no output file."""
    real_open = video._open

    class Breaking:
        """The real input container, whose demuxer fails at the 12th packet."""

        def __init__(self, path):
            self.container = real_open(path)

        def __getattr__(self, name):
            return getattr(self.container, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.container.close()

        def demux(self, *streams):
            for index, packet in enumerate(self.container.demux(*streams)):
                if index == 12:
                    raise av.InvalidDataError(1094995529, "Invalid data found")
                yield packet

    monkeypatch.setattr(video, "_open", Breaking)
    vector = reference.model.predict_style(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(UserError, match="breaks off or is corrupt"):
        stylize_video(reference.model, clips["audio"], tmp_path / "out.mp4", vector,
                            batch_size=2, progress=False)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_killed_mid_encode_leaves_no_output(sig, clips, weights_home, tmp_path):
    command = [sys.executable, "-m", "arbitrary_style.stylize", "--content", str(clips["long"]),
               "--styles", str(STYLE_A), "--output", "out.mp4"]
    process = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "ARBITRARY_STYLE_HOME": str(weights_home)},
                               preexec_fn=default_sigint)
    deadline = time.monotonic() + 120
    while not any(n.startswith(".arbitrary_style-tmp-") for n in os.listdir(tmp_path)):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.01)
    time.sleep(0.5)  # well into the encode (300 frames take several seconds)
    assert process.poll() is None
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert not (tmp_path / "out.mp4").exists()
    left = os.listdir(tmp_path)
    if sig == signal.SIGINT:
        assert left == [], left  # the temporary file is removed too
        assert process.returncode == 130
        assert stderr.strip().splitlines()[-1] == "error: interrupted"
        assert "Traceback" not in stderr


def test_temporal_smoothing_resets_at_a_cut(clips, reference, weights_home, tmp_path):
    model = reference.model
    frames, _, _ = decode(clips["cut"])
    vector = model.predict_style(np.asarray(Image.open(STYLE_A).convert("RGB"),
                                            np.float32) / 255)
    content = np.stack(frames).astype(np.float32) / 255
    per_frame = model.stylize(content, vector)
    assert np.array_equal(pipeline.MomentsSmoother(0.9).stylize(model, frames[:1], content[:1],
                                                             vector)[0], per_frame[0])
    smoother = pipeline.MomentsSmoother(0.9)
    smoothed = smoother.stylize(model, np.stack(frames), content, vector)
    assert smoother.cuts == 1
    differences = [mean_abs(a, b) for a, b in zip(smoothed * 255, per_frame * 255)]
    assert differences[0] == 0 and differences[8] == 0  # the first frame of each shot
    assert all(d > 0 for i, d in enumerate(differences) if i not in (0, 8))
    never_reset = pipeline.MomentsSmoother(0.9, cut_threshold=np.inf)
    smeared = never_reset.stylize(model, np.stack(frames), content, vector)
    assert never_reset.cuts == 0 and mean_abs(smeared[8] * 255, per_frame[8] * 255) > 0
    summary, _ = run_json(["--content", clips["cut"], "--styles", STYLE_A,
                           "--temporal_smoothing", "0.9", "--output", "s.mp4"],
                          tmp_path, weights_home)
    assert summary["outputs"][0]["scene_cuts"] == 1
    assert summary["temporal_smoothing"] == 0.9


def test_strength_and_preserve_colors(clips, weights_home, tmp_path):
    run_json(["--content", clips["audio"], "--styles", STYLE_A, "--output", "full.mp4"],
             tmp_path, weights_home)
    run_json(["--content", clips["audio"], "--styles", STYLE_A, "--output", "half.mp4",
              "--strength", "0.3", "--preserve_colors"], tmp_path, weights_home)
    frames_in = decode(clips["audio"])[0]
    full, half = decode(tmp_path / "full.mp4")[0], decode(tmp_path / "half.mp4")[0]

    def chroma(frame):
        return (frame.astype(np.float32) / 255) @ image_io._RGB_TO_YUV[:, 1:]

    # preserve_colors keeps the content's chroma (within codec error); full style does not.
    assert np.mean(np.abs(chroma(half[3]) - chroma(frames_in[3]))) < 0.02
    assert np.mean(np.abs(chroma(full[3]) - chroma(frames_in[3]))) > 0.04


def test_frames_per_call_is_one_per_cpu_within_the_memory_budget(imported_model):
    frame = np.zeros((360, 640, 3), np.uint8)
    vector = np.zeros(100, np.float32)
    assert stylizer(imported_model, vector).frames_per_call(frame, 4) == 4
    one_frame = stylizer(imported_model, vector)._frame_bytes(frame)
    assert stylizer(imported_model, vector, max_memory=int(2.5 * one_frame)).frames_per_call(
        frame, 4) == 2
    assert stylizer(imported_model, vector, max_memory=one_frame // 2).frames_per_call(
        frame, 4) == 1
    for one_at_a_time in ({"temporal_smoothing": 0.5}, {"tile": 128}, {"stroke_scale": 2.0}):
        assert stylizer(imported_model, vector, **one_at_a_time).frames_per_call(frame, 4) == 1


def test_the_next_batch_is_stylized_while_the_caller_takes_the_frames_before():
    """FrameStream overlaps the network with the caller's loop (encoding) and the frame
    source (decoding): while the caller still holds batch 0's frames, batch 1 is being
    stylized; frames come out in order, each the model's output."""
    import threading

    from arbitrary_style import pipeline

    batches_seen = []
    second_batch = threading.Event()

    class Model:  # Stylizes a batch [B,H,W,3] by inverting it; records each call.
        def stylize(self, content, vector, *, norm_offsets=None, preserve_colors=False):
            batches_seen.append(len(content))
            if len(batches_seen) == 2:
                second_batch.set()
            return 1.0 - content

    frames = [(index, np.full((16, 16, 3), 10 * index, np.uint8)) for index in range(5)]
    stream = pipeline.Stylizer(Model(), np.zeros(100, np.float32)).stream(batch_size=2)
    out = []
    for key, frame in stream.frames(iter(frames)):
        if key == 0:  # The caller is busy with batch 0 (encoding)...
            assert second_batch.wait(timeout=30), "batch 1 waited for the caller"
        out.append((key, frame))
    assert [key for key, _ in out] == list(range(5)) and batches_seen == [2, 2, 1]
    for (key, frame), (_, pixels) in zip(out, frames, strict=True):
        np.testing.assert_array_equal(frame, 255 - pixels)


def test_memory_budget_and_output_extension_errors(clips, weights_home, tmp_path):
    result = run_cli(["--content", clips["audio"], "--styles", STYLE_A, "--max_memory", "1M"],
                     cwd=tmp_path, home=weights_home)
    assert result.returncode != 0 and "--content_size" in error_lines(result.stderr)[0]
    with pytest.raises(UserError, match="unsupported extension for a video"):
        plan_outputs([clips["audio"]], [clips["audio"]], "out.png",
                               videos=[clips["audio"]])
    with pytest.raises(UserError, match="unsupported extension for an image"):
        plan_outputs([CONTENT], [CONTENT], "out.mp4")
    assert set(video.SAVE_FORMATS) == set(image_io.VIDEO_SAVE_EXTENSIONS)
