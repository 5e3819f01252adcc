"""Run by tools/test in the core-only venv (.venv-core, no TensorFlow): the light commands
as a user runs them — an image, a short video and a small Beam batch of the samples."""

import pathlib
import subprocess
import sys
import tempfile

import av
import numpy as np
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONTENT = ROOT / "samples" / "content" / "golden_gate_sq.jpg"
STYLES = f"{ROOT / 'samples/style/Camille_Mauclair.jpg'}:0.7," \
         f"{ROOT / 'samples/style/clouds-over-bor-1940_sq.jpg'}:0.3"


def command(*args):
    subprocess.run([sys.executable, "-m", *map(str, args)], check=True)


def write_clip(path, frames=8):
    photo = np.asarray(Image.open(CONTENT).convert("RGB").resize((128, 96)))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(photo, 5 * index, axis=1), "rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def main():
    try:
        import tensorflow  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        sys.exit("core_smoke: TensorFlow is importable; run this in the core-only venv")
    with tempfile.TemporaryDirectory() as temporary:
        work = pathlib.Path(temporary)
        command("arbitrary_style.stylize", "--content", CONTENT, "--styles", STYLES,
                "--output", work / "photo.png")
        write_clip(work / "clip.mp4")
        command("arbitrary_style.stylize", "--content", work / "clip.mp4", "--styles", STYLES,
                "--output", work / "clip_stylized.mp4")
        command("arbitrary_style.batch", "--input", ROOT / "samples" / "content",
                "--styles", STYLES, "--output", work / "batch")
        written = sorted(p.name for p in (work / "batch").iterdir() if p.suffix == ".png")
        expected = sorted(f"{p.name}.png" for p in (ROOT / "samples" / "content").glob("*.jpg"))
        if written != expected:
            sys.exit(f"core_smoke: the batch wrote {written}, expected {expected}")
        for name in ("photo.png", "clip_stylized.mp4"):
            if not (work / name).is_file():
                sys.exit(f"core_smoke: {name} was not written")
    print("core_smoke: an image, a video and a Beam batch stylized without TensorFlow")


if __name__ == "__main__":
    main()
