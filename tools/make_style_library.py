"""Tunes the built-in style library (arbitrary_style/library/styles/*.json) from
public-domain paintings.

  apt-get download gcompris-qt-data          # Debian's gcompris-qt-data 3.1-2 (44 MB)
  python tools/make_style_library.py --gcompris_deb gcompris-qt-data_3.1-2_all.deb \\
      [--steps 20] [--norm_steps 60] [--size 256] [--only NAME,NAME] [--images_to DIR]

The paintings: the 21 boards of GCompris's "paintings" puzzle (reproductions from Nicolas
Pioch's WebMuseum; the Pietà, a photograph of a sculpture, is left out), reassembled from their
puzzle pieces as the game's boards place them, and three public-domain paintings from
samples/style. Nothing of the images is committed: each built-in style is its tuned
numbers (`tuned_styles` format) plus its painting's title, painter and source, and
arbitrary_style/library/NOTICE.md lists them all. The .deb is checked against its
sha256 before anything in it is read.
"""

import argparse
import hashlib
import io
import lzma
import pathlib
import re
import struct
import sys
import tarfile
import time
import zlib

import numpy as np
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arbitrary_style import tuned_styles  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))

DEB_SHA256 = "e9cf06ab2105529068df73085784e835d2ff03f870d2a8091f09125d40abac9f"
DEB_NAME = "gcompris-qt-data_3.1-2_all.deb"
RCC_PATH = "./usr/share/gcompris-qt/rcc/paintings.rcc"
BOARD_PREFIX = "gcompris/src/activities/paintings/resource/"

# GCompris puzzle stem -> (style name, painter (life), title, year).
GCOMPRIS_PAINTINGS = {
    "AlbrechtDurer": ("durer-lion", "Albrecht Dürer (1471-1528)", "Lion", "1494"),
    "Arcimboldo_Librarian": ("arcimboldo-librarian", "Giuseppe Arcimboldo (1526-1593)",
                             "The Librarian", "1566"),
    "Arcimboldo_Spring": ("arcimboldo-spring", "Giuseppe Arcimboldo (1526-1593)", "Spring",
                          "1573"),
    "EjiriSuruga": ("hokusai-ejiri", "Katsushika Hokusai (1760-1849)",
                    "Ejiri in Suruga Province", "1830-1833"),
    "GreatWave": ("great-wave", "Katsushika Hokusai (1760-1849)",
                  "The Great Wave off Kanagawa", "1823-1829"),
    "HiroshigeHorsePrawns": ("hiroshige-fish", "Utagawa Hiroshige (1797-1858)",
                             "Horse-mackerel and Prawn", "1840"),
    "HiroshigeInokashiraSnow": ("hiroshige-snow", "Utagawa Hiroshige (1797-1858)",
                                "The Benzaiten Shrine at Inokashira in Snow", "c. 1845"),
    "HokusaiBridge": ("hokusai-bridge", "Katsushika Hokusai (1760-1849)",
                      "Viewing Sunset over the Ryogoku Bridge", "1830"),
    "HokusaiOiranKamuro": ("hokusai-oiran", "Katsushika Hokusai (1760-1849)",
                           "Oiran and Kamuro", ""),
    "HokusaiPoppies": ("hokusai-poppies", "Katsushika Hokusai (1760-1849)", "Poppies",
                       "1833-1834"),
    "HokusaiWomanHoldingFan": ("hokusai-fan", "Katsushika Hokusai (1760-1849)",
                               "Woman Holding a Fan", ""),
    "KazusaSeaRoute": ("hokusai-kazusa", "Katsushika Hokusai (1760-1849)",
                       "The Kazusa Sea Route", "1830"),
    "MonaLisa": ("mona-lisa", "Leonardo da Vinci (1452-1519)", "Mona Lisa", "1503-1519"),
    "PalaDiPesaro": ("bellini-pesaro", "Giovanni Bellini (c. 1430-1516)",
                     "La Pala di Pesaro", "1475-1485"),
    "PieterBruegel": ("bruegel-harvesters", "Pieter Bruegel the Elder (c. 1525-1569)",
                      "The Harvesters", "1565"),
    "bazille_rampart": ("bazille-ramparts", "Frédéric Bazille (1841-1870)",
                        "The Ramparts at Aigues-Mortes", "1867"),
    "cassat_summertime": ("cassatt-summertime", "Mary Cassatt (1844-1926)", "Summertime",
                          "1894"),
    "gogh_auvert": ("van-gogh-auvers", "Vincent van Gogh (1853-1890)",
                    "Village Street in Auvers", "1890"),
    "kandinky": ("kandinsky-composition-8", "Wassily Kandinsky (1866-1944)",
                 "Composition VIII", "1923"),
    "renoir-filles_piano": ("renoir-piano", "Pierre-Auguste Renoir (1841-1919)",
                            "Girls at the Piano", "1892"),
    "renoir-moulin_de_la_galette": ("renoir-moulin", "Pierre-Auguste Renoir (1841-1919)",
                                    "Bal du moulin de la Galette", "1876"),
}
# samples/style file -> (style name, painter, title, year).
SAMPLE_PAINTINGS = {
    "Camille_Mauclair.jpg": ("vallotton-mauclair", "Félix Vallotton (1865-1925)",
                             "Portrait of Camille Mauclair", ""),
    "clouds-over-bor-1940_sq.jpg": ("klee-clouds-over-bor", "Paul Klee (1879-1940)",
                                    "Clouds over Bor", "1940"),
    "Theo_van_Doesburg_sq.jpg": ("van-doesburg", "Theo van Doesburg (1883-1931)",
                                 "a painting (Magenta's sample)", ""),
}


def deb_member(deb_bytes, wanted):
    """The bytes of `wanted` in a .deb's data.tar.xz (ar archive, then tar)."""
    if deb_bytes[:8] != b"!<arch>\n":
        raise SystemExit("not a .deb (ar) archive")
    offset = 8
    while offset < len(deb_bytes):
        header = deb_bytes[offset:offset + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        body = deb_bytes[offset + 60:offset + 60 + size]
        if name == "data.tar.xz":
            with tarfile.open(fileobj=io.BytesIO(lzma.decompress(body))) as tar:
                return tar.extractfile(wanted).read()
        offset += 60 + size + (size & 1)
    raise SystemExit("no data.tar.xz in the .deb")


def rcc_files(data):
    """{path: bytes} of a Qt resource (.rcc) file, formats 1-3 (zlib-compressed or raw)."""
    if data[:4] != b"qres":
        raise SystemExit("not a Qt resource file")
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    node = 14 if version == 1 else 22
    files = {}

    def name_at(offset):
        (length,) = struct.unpack(">H", data[names + offset:names + offset + 2])
        return data[names + offset + 6:names + offset + 6 + 2 * length].decode("utf-16-be")

    def walk(index, prefix):
        at = tree + index * node
        name_offset, flags = struct.unpack(">IH", data[at:at + 6])
        name = name_at(name_offset) if index else ""
        path = f"{prefix}/{name}".lstrip("/") if name else prefix
        if flags & 2:  # directory
            count, first = struct.unpack(">II", data[at + 6:at + 14])
            for child in range(first, first + count):
                walk(child, path)
            return
        (offset,) = struct.unpack(">I", data[at + 10:at + 14])
        (size,) = struct.unpack(">I", data[payload + offset:payload + offset + 4])
        blob = data[payload + offset + 4:payload + offset + 4 + size]
        if flags & 4:
            raise SystemExit(f"{path}: zstd-compressed resources are not supported")
        files[path] = zlib.decompress(blob[4:]) if flags & 1 else blob

    walk(0, "")
    return files


def assemble_boards(files):
    """{puzzle stem: (RGB image, board title)}: each board's pieces placed as the game
    shows the solved puzzle (piece centres at x, y fractions of the board), cropped to
    the pieces' opaque extent."""
    paintings = {}
    for path, text in sorted(files.items()):
        if not (path.startswith(BOARD_PREFIX + "board/") and path.endswith(".qml")):
            continue
        text = text.decode("utf-8")
        title = re.search(r'qsTr\("(.*)"\)', text).group(1)
        width, height = map(int, re.search(r'"width": (\d+),\s*"height": (\d+)',
                                           text).groups())
        pieces = re.findall(r'"pixmapfile" : "image/([^"]+\.webp)",\s*"x" : "([\d.]+)",'
                            r'\s*"y" : "([\d.]+)"', text)
        canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        for name, x, y in pieces:
            piece = Image.open(io.BytesIO(files[BOARD_PREFIX + "image/" + name])).convert("RGBA")
            canvas.alpha_composite(piece, (round(float(x) * width - piece.width / 2),
                                           round(float(y) * height - piece.height / 2)))
        opaque = canvas.getchannel("A").point(lambda a: 255 if a > 250 else 0).getbbox()
        stem = re.sub(r"(_[a-z]?\d+|-\d)\.webp$", "", pieces[0][0])
        paintings[stem] = (canvas.crop(opaque).convert("RGB"), title)
    return paintings


def library_images(deb_path):
    """[(name, RGB image, details)] of every painting of the library."""
    deb = pathlib.Path(deb_path).read_bytes()
    digest = hashlib.sha256(deb).hexdigest()
    if digest != DEB_SHA256:
        raise SystemExit(f"{deb_path}: sha256 {digest}, expected {DEB_SHA256} ({DEB_NAME})")
    boards = assemble_boards(rcc_files(deb_member(deb, RCC_PATH)))
    images = []
    for stem, (name, painter, title, year) in GCOMPRIS_PAINTINGS.items():
        image, _ = boards[stem]
        images.append((name, image, {
            "painting": title, "painter": painter, "year": year,
            "source": f"GCompris 3.1 'paintings' activity (Debian {DEB_NAME}), "
                      "from Nicolas Pioch's WebMuseum; reassembled from the puzzle"}))
    for file, (name, painter, title, year) in SAMPLE_PAINTINGS.items():
        image = Image.open(ROOT / "samples" / "style" / file).convert("RGB")
        images.append((name, image, {"painting": title, "painter": painter, "year": year,
                                     "source": f"samples/style/{file} (see samples/SOURCES.md)"}))
    return images


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gcompris_deb", required=True)
    tuned_styles.add_tuning_arguments(parser, steps=20)
    parser.add_argument("--held_out", default=str(ROOT / "samples" / "content"),
                        help="photos the goal is checked on (never tuned on)")
    parser.add_argument("--only", default="", help="comma-separated style names")
    parser.add_argument("--images_to", default=None,
                        help="also write the reassembled paintings here (not committed)")
    parser.add_argument("--output", default=str(tuned_styles.BUILTIN_STYLES_DIR))
    parser.add_argument("--recheck", action="store_true",
                        help="no tuning: for each stored style whose held-out check failed "
                        "with its norms, keep its vector alone if that passes")
    args = parser.parse_args()

    images = library_images(args.gcompris_deb)
    if args.recheck:
        return recheck(images, args)
    if args.only:
        wanted = set(args.only.split(","))
        images = [item for item in images if item[0] in wanted]
    if args.images_to:
        pathlib.Path(args.images_to).mkdir(parents=True, exist_ok=True)
        for name, image, _ in images:
            image.save(pathlib.Path(args.images_to) / f"{name}.png")

    from tuned_style_gain import GOAL_CONTENT_RATIO, held_out_losses

    from arbitrary_style import image_io
    from arbitrary_style.losses import LossConfig, StyleLoss
    from arbitrary_style.styles import load_contents
    from arbitrary_style.weights import store

    model = store.load_model(store.resolve_weights(None))
    loss = StyleLoss(LossConfig("vgg19"))
    paths = tuned_styles.builtin_contents()
    contents = load_contents(paths, args.size, args.zoomed_crops)
    held_out_paths = image_io.list_images(args.held_out)
    held_out = load_contents(held_out_paths, args.size)
    print("| style | held-out content x (tuned / vector only) | held-out style x (tuned / "
          "vector only) | goal | kept | bytes | s |\n|---|---|---|---|---|---|---|")
    for name, image, details in images:
        started = time.perf_counter()
        style = image_io.limit_long_side(np.asarray(image, np.float32) / 255.0, args.size)
        result = tuned_styles.tune(
            model, style, contents, loss=loss, steps=args.steps, norm_steps=args.norm_steps,
            learning_rate=args.learning_rate, norm_learning_rate=args.norm_learning_rate,
            content_weight=args.content_weight, max_content_ratio=args.max_content_ratio)
        first, best = result.history[0], result.history[result.best]
        predicted = held_out_losses(model, loss, style, held_out, model.predict_style(style))
        tuned = held_out_losses(model, loss, style, held_out, result.vector,
                                result.norm_offsets)
        vector_only = held_out_losses(model, loss, style, held_out, result.vector)
        ratios = [tuned[0] / predicted[0], tuned[1] / predicted[1],
                  vector_only[0] / predicted[0], vector_only[1] / predicted[1]]
        goal = ratios[1] < 1 and ratios[0] <= GOAL_CONTENT_RATIO
        offsets, best_stage = result.norm_offsets, best["stage"]
        if not goal and offsets is not None and ratios[3] < 1 and ratios[2] <= GOAL_CONTENT_RATIO:
            # The norms went past the bound on the held-out photos, the vector alone did
            # not: keep the vector (these photos then served as a validation set).
            offsets, best_stage, goal = None, "vector (norms dropped on held-out check)", True
            best = dict(zip(("content", "style"),
                            held_out_losses(model, loss, style, contents, result.vector)))
            ratios[:2] = ratios[2:]
        path = tuned_styles.save(name, result.vector, weights=store.DEFAULT_WEIGHTS,
                                 norm_offsets=offsets, directory=args.output,
                                 details={
            **details, "contents": [p.name for p in paths], "size": args.size,
            "zoomed_crops": args.zoomed_crops,
            "loss_network": "vgg19", "steps_done": len(result.history) - 1,
            "norm_steps": args.norm_steps, "content_weight": args.content_weight,
            "max_content_ratio": args.max_content_ratio, "best_step": result.best,
            "best_stage": best_stage,
            "content_predicted": first["content"], "content_tuned": best["content"],
            "style_predicted": first["style"], "style_tuned": best["style"],
            "held_out": {"contents": [pathlib.Path(p).name for p in held_out_paths],
                         "content_ratio": round(ratios[0], 4),
                         "style_ratio": round(ratios[1], 4),
                         "vector_only_content_ratio": round(ratios[2], 4),
                         "vector_only_style_ratio": round(ratios[3], 4)}})
        print(f"| {name} | {ratios[0]:.2f} / {ratios[2]:.2f} | {ratios[1]:.2f} / "
              f"{ratios[3]:.2f} | {'met' if goal else 'NOT met'} | {best_stage} step "
              f"{result.best} | {path.stat().st_size} | {time.perf_counter() - started:.0f} |",
              flush=True)
    print(f"wrote {write_notice(args.output)}")


def recheck(images, args):
    """Drops the norms of stored styles that fail the held-out goal with them but not
    without (the rule `main` applies while tuning), recomputing the vector's losses."""
    import json

    from tuned_style_gain import GOAL_CONTENT_RATIO, held_out_losses

    from arbitrary_style import image_io
    from arbitrary_style.losses import LossConfig, StyleLoss
    from arbitrary_style.styles import load_contents
    from arbitrary_style.weights import store

    model = store.load_model(store.resolve_weights(None))
    loss = StyleLoss(LossConfig("vgg19"))
    for name, image, _ in images:
        path = pathlib.Path(args.output) / f"{name}.json"
        if not path.is_file():
            continue
        record = json.loads(path.read_text())
        held = record["held_out"]
        if held["style_ratio"] < 1 and held["content_ratio"] <= GOAL_CONTENT_RATIO:
            continue
        if not (held["vector_only_style_ratio"] < 1
                and held["vector_only_content_ratio"] <= GOAL_CONTENT_RATIO):
            print(f"{name}: fails with and without its norms; left as it is")
            continue
        size = record["size"]
        style = image_io.limit_long_side(np.asarray(image, np.float32) / 255.0, size)
        contents = load_contents([tuned_styles.BUILTIN_CONTENTS_DIR / c
                                  for c in record["contents"]], size,
                                 record.get("zoomed_crops", 0))
        vector = np.asarray(record["vector"], np.float32)
        content, style_loss = held_out_losses(model, loss, style, contents, vector)
        details = {key: value for key, value in record.items()
                   if key not in ("format_version", "name", "weights", "vector",
                                  "norm_offsets", "norm_offsets_dtype")}
        details.update(best_stage="vector (norms dropped on held-out check)",
                       content_tuned=content, style_tuned=style_loss,
                       held_out={**held, "content_ratio": held["vector_only_content_ratio"],
                                 "style_ratio": held["vector_only_style_ratio"]})
        tuned_styles.save(name, vector, weights=record["weights"], details=details,
                          directory=args.output)
        print(f"{name}: norms dropped; held-out content x{held['vector_only_content_ratio']}"
              f", style x{held['vector_only_style_ratio']}")
    print(f"wrote {write_notice(args.output)}")


NOTICE_HEAD = """\
# The built-in style library and content photos: sources and licences

Written by `tools/make_style_library.py`; do not edit the table by hand.

## Content photos (`contents/`, the default set of `styles tune`)

Center squares, 256x256, of photos bundled with scikit-image 0.26.0 (`skimage/data/`):

| file | what | licence (as scikit-image's `skimage.data` documents it) |
|---|---|---|
| `contents/astronaut.jpg` | Eileen Collins, NASA portrait | public domain (NASA) |
| `contents/chelsea.jpg` | Chelsea the cat, by Stefan van der Walt | CC0 |
| `contents/coffee.jpg` | a cup of coffee, by Rachel Michetti (Pikolo Espresso Bar) | CC0 |
| `contents/rocket.jpg` | the DSCOVR launch on a Falcon 9, by SpaceX | public domain (CC0) |

## Built-in styles (`styles/`)

Each file holds numbers only: a 100-d style vector for the `magenta-mobile` weights and,
where tuning them paid, per-layer normalization offsets, tuned against the VGG-19 loss on
the photos above. No image of a painting is shipped. The paintings are in the public
domain (their painters died more than 70 years ago). The reproductions they were tuned
from: GCompris 3.1's "paintings" activity (Debian package `gcompris-qt-data` 3.1-2;
images from Nicolas Pioch's WebMuseum, which GCompris distributes under the GPL v3 or
later: faithful reproductions of public-domain 2-D works carry no new copyright in most
countries) and the public-domain paintings of `samples/style` (see `samples/SOURCES.md`).

| style | painting | painter | year | source |
|---|---|---|---|---|
"""


def write_notice(directory):
    """NOTICE.md beside the styles directory: the fixed text and one row per style."""
    import json

    rows = []
    for path in sorted(pathlib.Path(directory).glob("*.json")):
        record = json.loads(path.read_text())
        rows.append(f"| `{path.stem}` | {record.get('painting', '')} | "
                    f"{record.get('painter', '')} | {record.get('year', '')} | "
                    f"{record.get('source', '')} |")
    notice = pathlib.Path(directory).parent / "NOTICE.md"
    notice.write_text(NOTICE_HEAD + "\n".join(rows) + "\n")
    return notice


if __name__ == "__main__":
    main()
