"""Fetching the official pretrained weights (needs network), verified, and converting them.

An archive is streamed to a temp file while its sha256 is computed, checked against the
digest the registry records (or `--sha256`), and only then unpacked (tarfile's "data"
filter: no absolute paths, links out or devices) into $ARBITRARY_STYLE_HOME/downloads/.
Plain http:// is refused unless asked for. A local directory (an unpacked module or
checkpoint) is used as it is.
"""

import hashlib
import pathlib
import tarfile
import urllib.error
import urllib.parse
import urllib.request

from arbitrary_style import atomic
from arbitrary_style.errors import UserError
from arbitrary_style.weights import registry, store
from arbitrary_style.weights.importers import import_checkpoint, model_from_tensors

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60


def find_checkpoint(directory):
    """The prefix of the one TF checkpoint (`*.index`) anywhere under `directory`."""
    indexes = sorted(pathlib.Path(directory).rglob("*.index"))
    if len(indexes) != 1:
        raise UserError(f"expected one TF checkpoint under {directory}, found {len(indexes)}")
    return indexes[0].with_suffix("")


def read_saved_model_variables(path):
    """{TF variable name: array} of a SavedModel, e.g. Magenta's TF-Hub module."""
    import tensorflow_hub as hub

    loaded = hub.load(str(path))
    return {v.name.removesuffix(":0"): v.numpy() for v in loaded.variables}


def archive_url(url, kind):
    """The .tar.gz to fetch: a TF-Hub handle is asked for its compressed form."""
    if kind == "saved_model" and urllib.parse.urlparse(url).hostname == "tfhub.dev":
        return url + "?tf-hub-format=compressed"
    return url


def fetch(url, *, sha256=None, allow_http=False, allow_unverified=False, progress=None):
    """Downloads the .tar.gz at `url`, verifies its sha256 and unpacks it (cached by digest).

    Args:
      url: an https:// (or, with `allow_http`, http://) URL of a .tar.gz.
      sha256: the expected hex digest; None needs `allow_unverified` (the digest is then
        only reported).
      progress: called with (bytes so far, total bytes or None) while downloading.

    Returns:
      (directory, sha256 hex digest of what was downloaded).
    """
    scheme = urllib.parse.urlparse(url).scheme
    if scheme == "http" and not allow_http:
        raise UserError(f"refusing plain http:// for {url} (it can be tampered with on the way); "
                        "use https:// or pass --allow_http")
    if scheme not in ("http", "https"):
        raise UserError(f"cannot download {url}: not an http(s) URL or a local directory")
    if sha256 is None and not allow_unverified:
        raise UserError(f"no known sha256 for {url} (upstream publishes none): pass --sha256 HEX "
                        "with the digest you trust, or --allow_unverified to accept it unchecked")
    downloads = store.home() / "downloads"
    try:
        downloads.mkdir(parents=True, exist_ok=True)
        with atomic.scratch_file(downloads / "archive.tar.gz") as temp:
            digest = _download(url, temp, progress)
            if sha256 is not None and digest != sha256.lower():
                raise UserError(f"{url} has sha256 {digest}, expected {sha256.lower()}: "
                                "refusing it (nothing was kept)")
            target = downloads / digest
            if not target.is_dir():
                with atomic.atomic_directory(target) as staging, tarfile.open(temp) as archive:
                    archive.extractall(staging, filter="data")
    except tarfile.TarError as error:
        raise UserError(f"{url} is not a valid .tar.gz: {error}") from None
    except OSError as error:
        raise UserError(f"cannot write the download to {downloads}: "
                        f"{error.strerror or error}") from None
    return target, digest


def _download(url, path, progress):
    """Streams `url` to `path`; returns the sha256 hex digest of the bytes."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response, \
                open(path, "wb") as file:
            total = int(response.headers.get("Content-Length") or 0) or None
            done = 0
            while chunk := response.read(CHUNK_BYTES):
                file.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except (urllib.error.URLError, TimeoutError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise UserError(f"cannot download {url}: {reason}") from None
    return digest.hexdigest()


def download(name, *, url=None, sha256=None, allow_http=False, allow_unverified=False,
             progress=None):
    """Fetches the named official weights (or the same kind of file from `url`) as a StyleModel.

    Returns (model, source), source saying where it came from and its sha256.
    """
    known = registry.KNOWN_WEIGHTS.get(name)
    if known is None or known.url is None:
        raise UserError(f"unknown weights source {name!r}; choose one of {registry.DOWNLOADABLE}")
    location = url or known.url
    if pathlib.Path(location).is_dir():
        directory, source = pathlib.Path(location), str(pathlib.Path(location).resolve())
    else:
        expected = sha256 or (known.sha256 if url is None else None)
        directory, digest = fetch(archive_url(location, known.kind), sha256=expected,
                                  allow_http=allow_http, allow_unverified=allow_unverified,
                                  progress=progress)
        source = f"{location} sha256:{digest}"
    if known.kind == "checkpoint":
        return import_checkpoint(find_checkpoint(directory)), source
    return model_from_tensors(read_saved_model_variables(directory), "HWIO", source=source), source
