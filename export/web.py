"""Serve the browser demo (export/web/) with TF.js models, on Python's http.server.

  npm ci --prefix export/web                    # once: TF.js (and the e2e tests' Playwright)
  python -m export.tfjs --output exported/tfjs  # the TF.js models
  python -m export.web --serve                  # then open the printed URL

URL roots: `/` the demo's own files (export/web/*.html|.js|.css), `/models/` the TF.js
models directory (--models), `/vendor/tf.min.js` TF.js from export/web/node_modules, and
with --images DIR also `/images/` (the demo's ?content=/images/a.jpg&style1=... parameters
can point there). Nothing else is served and no directory is listed, nor any path with a
component starting with "." (hidden files, traversal).

The server is for trying the demo on one machine or a small network, not for the public
internet. It answers HTTP/1.1 with keep-alive, one daemon thread per connection, and bounds
what a client can hold: at most MAX_CONNECTIONS connections at a time (more are answered
503 and closed), a connection idle (or stalled) for `timeout` seconds is closed, and so is
one whose request has not been read and answered within `request_deadline` seconds (a
client sending its headers slowly); the request line is at most MAX_REQUEST_LINE bytes
(414) and the header block at most MAX_HEADER_BYTES (431); a NUL or other control
character in the path is a 400.
(`import export.web` still imports TensorFlow, through arbitrary_style/__init__.py.)
"""

import functools
import http.client
import http.server
import io
import os
import pathlib
import posixpath
import socket
import threading
import time
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
DEFAULT_TIMEOUT = 10.0  # Seconds a connection may be idle, or stall mid-request, before closing.
DEFAULT_REQUEST_DEADLINE = 30.0  # Seconds to read and answer one request (idle wait included).
MAX_CONNECTIONS = 64  # Connections served at a time (each holds a thread); more get a 503.
SENDFILE_CHUNK = 1 << 20  # Bytes per sendfile call: the deadline is checked between calls.
BUSY_ANSWER = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 34\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
               b"Too many connections; retry soon.\n")
MAX_REQUEST_LINE = 8 * 1024  # Bytes, CRLF included; longer: 414.
MAX_HEADER_BYTES = 32 * 1024  # Bytes of the whole header block; more: 431.
REQUEST_QUEUE_SIZE = 128  # The listen backlog (socketserver's default is 5).
DRAIN_BYTES = 256 * 1024  # Unread request bytes read off after a refusal, so the close is clean.


class BadPath(ValueError):
    """A request path that is malformed (not merely absent): answered with 400."""


class _DeadlineReader(io.RawIOBase):
    """The connection's reads, each given at most the time left until the request's deadline
    (and at most the idle `timeout`): a client cannot hold a connection by sending slowly."""

    def __init__(self, connection, handler):
        self.connection, self.handler = connection, handler

    def readable(self):
        return True

    def readinto(self, buffer):
        left = self.handler.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request deadline passed")
        self.connection.settimeout(min(self.handler.timeout or left, left))
        return self.connection.recv_into(buffer)


class _HeaderBudget:
    """Wraps rfile while headers are parsed: readline() fails once MAX_HEADER_BYTES are read.

    http.server turns the http.client.LineTooLong it raises into a 431 answer.
    """

    def __init__(self, rfile, limit):
        self.rfile, self.left = rfile, limit

    def readline(self, size=-1):
        cap = self.left + 1 if size < 0 else min(size, self.left + 1)
        line = self.rfile.readline(cap)
        self.left -= len(line)
        if self.left < 0:
            raise http.client.LineTooLong(f"header block over {MAX_HEADER_BYTES} bytes")
        return line

    def __getattr__(self, name):
        return getattr(self.rfile, name)


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

    protocol_version = "HTTP/1.1"  # Keep-alive, as browsers expect; every answer has a length.
    timeout = DEFAULT_TIMEOUT  # socketserver applies it to the connection's socket.
    disable_nagle_algorithm = True  # Headers and body are two writes: no 40 ms delayed-ACK wait.

    extensions_map: ClassVar = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".css": "text/css", ".html": "text/html",
                      ".json": "application/json", ".bin": "application/octet-stream",
                      ".wasm": "application/wasm", ".png": "image/png", ".jpg": "image/jpeg",
                      ".jpeg": "image/jpeg", ".webp": "image/webp"}

    def __init__(self, *args, roots, quiet=False, timeout=None,
                 request_deadline=DEFAULT_REQUEST_DEADLINE, **kwargs):
        self.roots, self.quiet = roots, quiet
        self._refused, self._translated = False, None
        self.request_deadline, self.deadline = request_deadline, None
        if timeout is not None:
            self.timeout = timeout
        super().__init__(*args, directory=str(WEB_DIR), **kwargs)

    def setup(self):
        super().setup()
        self.rfile.close()  # socketserver's reader, replaced by one that keeps the deadline
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self))

    def handle_one_request(self):
        """http.server's, with the request line and header block capped and a deadline for
        reading and answering the request (see the module doc)."""
        self.deadline = time.monotonic() + self.request_deadline
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.requestline = self.request_version = self.command = ""
                self._refused = True
                self.send_error(414, f"Request line over {MAX_REQUEST_LINE} bytes")
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            rfile, self.rfile = self.rfile, _HeaderBudget(self.rfile, MAX_HEADER_BYTES)
            try:
                parsed = self.parse_request()
            finally:
                self.rfile = rfile
            if not parsed:  # An error has been answered (and the connection will close).
                self._refused = True
                return
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                self._refused = True
                self.send_error(501, f"Unsupported method ({self.command!r})")
                return
            method()
            self.wfile.flush()
        except TimeoutError as error:  # Idle, or a read or write stalled: drop the connection.
            self.log_error("Request timed out: %r", error)
            self.close_connection = True
        except ConnectionError:  # The client went away mid-answer.
            self.close_connection = True

    def finish(self):
        """After a refused request, read off (a bounded amount of) what the client still sends,
        so that closing does not reset the connection before the client reads the answer."""
        try:
            super().finish()
            if self._refused:
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(min(self.timeout or 1.0, 1.0))
                left = DRAIN_BYTES
                while left > 0:
                    data = self.connection.recv(min(left, 65536))
                    if not data:
                        break
                    left -= len(data)
        except OSError:
            pass

    def translate_path(self, path):
        """The file behind a URL path, or "" (-> 404) when none may be served.

        Raises BadPath (-> 400) for a NUL or other control character in the path.
        """
        if self._translated is not None and self._translated[0] == path:
            return self._translated[1]
        decoded = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in decoded):
            raise BadPath("control character in the path")
        if any(p.startswith(".") for p in decoded.split("/")):
            return ""  # Hidden files and directories, "." and ".." (traversal).
        parts = [p for p in posixpath.normpath(decoded).split("/") if p]
        if ".." in parts:
            return ""
        if parts == ["vendor", "tf.min.js"]:
            return str(TFJS_SCRIPT)
        if len(parts) > 1 and parts[0] in self.roots:
            root = self.roots[parts[0]].resolve()
            file = root.joinpath(*parts[1:]).resolve()
            if not file.is_relative_to(root) or any(
                    p.startswith(".") for p in file.relative_to(root).parts):
                return ""  # Through a link: outside the root, or onto a hidden file.
            return str(file) if file.is_file() else ""
        if not parts:
            parts = ["index.html"]
        if len(parts) == 1 and parts[0].endswith(DEMO_SUFFIXES):
            return str(WEB_DIR / parts[0])
        return ""

    def send_head(self):
        try:
            path = self.translate_path(self.path)
            found = bool(path) and pathlib.Path(path).is_file()
        except BadPath as error:
            self.send_error(400, f"Bad request path: {error}")
            return None
        except (OSError, ValueError):  # E.g. a name too long for the file system.
            found = False
        if not found:
            self.send_error(404, "Not found")
            return None
        self._translated = (self.path, path)  # super() translates again: once is enough.
        return super().send_head()

    def copyfile(self, source, outputfile):
        """The body by sendfile(2) (no copies through Python, the GIL released meanwhile), in
        chunks, each within the request's deadline."""
        if outputfile is self.wfile and hasattr(source, "fileno"):
            self.wfile.flush()
            size = os.fstat(source.fileno()).st_size
            offset = 0
            while offset < size:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("request deadline passed while answering")
                self.connection.settimeout(min(self.timeout or left, left))
                offset += self.connection.sendfile(source, offset, SENDFILE_CHUNK)
        else:
            super().copyfile(source, outputfile)

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):
        if not self.quiet:
            super().log_message(format, *args)


class DemoServer(http.server.ThreadingHTTPServer):
    """A thread per connection (daemon threads: they never block exit), at most
    `max_connections` at a time (more are answered 503), a deeper backlog."""

    daemon_threads = True
    request_queue_size = REQUEST_QUEUE_SIZE

    def __init__(self, *args, max_connections=MAX_CONNECTIONS, **kwargs):
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request):
        """Answers 503 without waiting for the client (the answer fits the socket's buffer)
        and closes the connection."""
        try:
            request.setblocking(False)
            request.send(BUSY_ANSWER)
        except OSError:
            pass
        self.shutdown_request(request)


def make_server(models_dir=DEFAULT_MODELS, *, host="127.0.0.1", port=8000, images_dir=None,
                quiet=False, timeout=DEFAULT_TIMEOUT, request_deadline=DEFAULT_REQUEST_DEADLINE,
                max_connections=MAX_CONNECTIONS):
    """A DemoServer for the demo (port 0: a free port); checks the files first.

    `timeout`: seconds before an idle or stalled connection is closed; `request_deadline`:
    seconds to read and answer one request; `max_connections`: served at a time.
    """
    check_files(models_dir)
    roots = {"models": pathlib.Path(models_dir)}
    if images_dir is not None:
        if not pathlib.Path(images_dir).is_dir():
            raise UserError(f"--images: {images_dir} is not a directory")
        roots["images"] = pathlib.Path(images_dir)
    handler = functools.partial(DemoHandler, roots=roots, quiet=quiet, timeout=timeout,
                                request_deadline=request_deadline)
    try:
        return DemoServer((host, port), handler, max_connections=max_connections)
    except OSError as error:
        raise UserError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def start_server_thread(models_dir=DEFAULT_MODELS, *, host="127.0.0.1", port=0,
                        images_dir=None, quiet=True, **limits):
    """Serves the demo from a daemon thread; returns (server, port). Stop: server.shutdown().
    `limits`: make_server's timeout, request_deadline and max_connections."""
    server = make_server(models_dir, host=host, port=port, images_dir=images_dir, quiet=quiet,
                         **limits)
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
