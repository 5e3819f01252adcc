"""What the README's commands write into the checkout is ignored by git."""

import pathlib
import re
import subprocess

from arbitrary_style.specs import plan_outputs

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
OUTPUT_FLAG = re.compile(r"--(?:output|output_dir|model_dir)[ =](\S+)")


def readme_outputs():
    """Relative paths given to --output, --output_dir and --model_dir in README's bash blocks
    (directories get a file name, as git ignores the files in them)."""
    blocks = re.findall(r"```bash\n(.*?)```", (REPOSITORY / "README.md").read_text(), re.S)
    paths = set()
    for path in OUTPUT_FLAG.findall("\n".join(blocks)):
        if path.startswith(("/", "gs://", "s3://")):
            continue
        is_directory = path.endswith("/") or not pathlib.PurePath(path).suffix
        paths.add(path.rstrip("/") + "/x.png" if is_directory else path)
    return sorted(paths)


def default_outputs():
    """Where the stylize command writes without --output: one content, a video, several."""
    photo, clip = pathlib.Path("photo.jpg"), pathlib.Path("clip.mp4")
    return [str(p) for p in (*plan_outputs([photo], [], None), *plan_outputs(
        [clip], [], None, videos={clip}), *plan_outputs([photo, clip], [], None))]


def test_the_readme_outputs_are_ignored_by_git():
    paths = readme_outputs()
    assert {"exported/tfjs/x.png", "runs/paper/x.png", "out/clip.mp4"} <= set(paths)
    paths += default_outputs()
    result = subprocess.run(["git", "check-ignore", "--no-index", "--verbose",
                             "--non-matching", *paths], cwd=REPOSITORY, capture_output=True,
                            text=True, check=False)
    not_ignored = [line.split("\t")[-1] for line in result.stdout.splitlines()
                   if line.startswith("::")]
    assert result.stdout and not_ignored == [], not_ignored
