"""Serve the browser demo (export/web/) with TF.js models, on Python's http.server.

  npm ci --prefix export/web                    # once: TF.js (and the e2e tests' Playwright)
  python -m export.tfjs --output exported/tfjs  # the TF.js models
  python -m export.web --serve                  # then open the printed URL

URL roots: `/` the demo's own files (export/web/*.html|.js|.css), `/models/` the TF.js
models directory (--models), `/vendor/tf.min.js` TF.js from export/web/node_modules, and
with --images DIR also `/images/` (the demo's ?content=/images/a.jpg&style1=... parameters
can point there). Nothing else is served and no directory is listed.
"""

import functools
import http.server
import pathlib
import posixpath
import threading
import urllib.parse
from typing import ClassVar

from absl import flags

from arbitrary_style import cli
from arbitrary_style.errors import UserError

WEB_DIR = pathlib.Path(__file__).resolve().parent / "web"
TFJS_SCRIPT = WEB_DIR / "node_modules" / "@tensorflow" / "tfjs" / "dist" / "tf.min.js"
DEFAULT_MODELS = "exported/tfjs"
MODEL_FILES = ("predict/model.json", "transfer/model.json")
DEMO_SUFFIXES = (".html", ".js", ".css")


def check_files(models_dir):
    """Raises a UserError naming the command that creates TF.js or the models if missing."""
    if not TFJS_SCRIPT.is_file():
        raise UserError(f"TF.js is not installed ({TFJS_SCRIPT} is missing); "
                        "run: npm ci --prefix export/web")
    models_dir = pathlib.Path(models_dir)
    missing = [name for name in MODEL_FILES if not (models_dir / name).is_file()]
    if missing:
        raise UserError(f"no TF.js models in {models_dir} ({missing[0]} is missing); "
                        f"create them with: python -m export.tfjs --output {models_dir}")


class DemoHandler(http.server.SimpleHTTPRequestHandler):
    """Maps URL roots onto directories; 404 for anything else, directories included."""

    extensions_map: ClassVar = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".css": "text/css", ".html": "text/html",
                      ".json": "application/json", ".bin": "application/octet-stream",
                      ".wasm": "application/wasm", ".png": "image/png", ".jpg": "image/jpeg",
                      ".jpeg": "image/jpeg", ".webp": "image/webp"}

    def __init__(self, *args, roots, quiet=False, **kwargs):
        self.roots, self.quiet = roots, quiet
        super().__init__(*args, directory=str(WEB_DIR), **kwargs)

    def translate_path(self, path):
        """The file behind a URL path, or "" (-> 404) when none may be served."""
        parts = [p for p in posixpath.normpath(urllib.parse.unquote(
            urllib.parse.urlsplit(path).path)).split("/") if p]
        if ".." in parts:
            return ""
        if parts == ["vendor", "tf.min.js"]:
            return str(TFJS_SCRIPT)
        if len(parts) > 1 and parts[0] in self.roots:
            root = self.roots[parts[0]].resolve()
            file = root.joinpath(*parts[1:]).resolve()
            return str(file) if file.is_file() and file.is_relative_to(root) else ""
        if not parts:
            parts = ["index.html"]
        if len(parts) == 1 and parts[0].endswith(DEMO_SUFFIXES):
            return str(WEB_DIR / parts[0])
        return ""

    def send_head(self):
        path = self.translate_path(self.path)
        if not path or not pathlib.Path(path).is_file():
            self.send_error(404, "Not found")
            return None
        return super().send_head()

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):
        if not self.quiet:
            super().log_message(format, *args)


def make_server(models_dir=DEFAULT_MODELS, *, host="127.0.0.1", port=8000, images_dir=None,
                quiet=False):
    """A ThreadingHTTPServer for the demo (port 0: a free port); checks the files first."""
    check_files(models_dir)
    roots = {"models": pathlib.Path(models_dir)}
    if images_dir is not None:
        if not pathlib.Path(images_dir).is_dir():
            raise UserError(f"--images: {images_dir} is not a directory")
        roots["images"] = pathlib.Path(images_dir)
    handler = functools.partial(DemoHandler, roots=roots, quiet=quiet)
    try:
        return http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as error:
        raise UserError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def start_server_thread(models_dir=DEFAULT_MODELS, *, host="127.0.0.1", port=0,
                        images_dir=None, quiet=True):
    """Serves the demo from a daemon thread; returns (server, port). Stop: server.shutdown()."""
    server = make_server(models_dir, host=host, port=port, images_dir=images_dir, quiet=quiet)
    threading.Thread(target=server.serve_forever, daemon=True, name="export.web").start()
    return server, server.server_port


def define_flags():
    flags.DEFINE_bool("serve", False, "Serve the demo until interrupted (Ctrl-C).")
    flags.DEFINE_string("models", DEFAULT_MODELS, "The TF.js models directory "
                        "(python -m export.tfjs --output DIR), served at /models/.")
    flags.DEFINE_integer("port", 8000, "The port to listen on (0: any free port).")
    flags.DEFINE_string("host", "127.0.0.1", "The address to listen on.")
    flags.DEFINE_string("images", None, "Also serve this directory at /images/.")


def main(argv):
    FLAGS = flags.FLAGS
    if not FLAGS.serve:
        raise UserError("nothing to do: pass --serve to start the demo server (see --help)")
    server = make_server(FLAGS.models, host=FLAGS.host, port=FLAGS.port,
                         images_dir=FLAGS.images)
    host = f"[{FLAGS.host}]" if ":" in FLAGS.host else FLAGS.host
    print(f"serving the demo at http://{host}:{server.server_port}/ (Ctrl-C stops)", flush=True)
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped")
    return 0


if __name__ == "__main__":
    define_flags()
    cli.run(main)
