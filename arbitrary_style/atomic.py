"""Atomic writes of files and directories: readers see the old copy or the new, never a mix.

Temporary entries are created beside the target as
`.arbitrary_style-tmp-<pid>-<random>-<role>-<name>` (role `new`: being written; `old`: a
replaced directory moved aside). `clean_stale(directory)`, run at the start of every
atomic write, removes those a dead process left behind and moves back an `old` copy whose
replacement never arrived.
"""

import contextlib
import os
import pathlib
import re
import secrets
import shutil

PREFIX = ".arbitrary_style-tmp-"
_TEMP_NAME = re.compile(re.escape(PREFIX) + r"(\d+)-[0-9a-f]+-(new|old)-(.+)")
_CLOCK_SLACK_S = 2.0  # /proc/stat's boot time has one-second resolution.


def _temp_path(target, role):
    return target.with_name(f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{role}-{target.name}")


def _process_start_time(pid):
    """When process `pid` started (seconds since the epoch), or None where unknown."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # Field 22, starttime.
        boot = next(int(line.split()[1]) for line in open("/proc/stat")
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _is_stale(pid, mtime):
    """Whether an entry of process `pid` last modified at `mtime` has no live owner.

    Its owner is gone when `pid` is not running, or when the process now running as `pid`
    started after the entry was last written (the pid was reused).
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # Alive, another user's.
    started = _process_start_time(pid)
    return started is not None and mtime < started - _CLOCK_SLACK_S


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_stale(directory):
    """Removes the temporary entries in `directory` whose writing process is gone.

    A stale `old` copy of a directory whose target is missing (a crash between the two
    renames of `atomic_directory`) is renamed back onto its target instead.
    """
    directory = pathlib.Path(directory)
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if not match:
            continue
        try:
            if not _is_stale(int(match[1]), entry.lstat().st_mtime):
                continue
            target = directory / match[3]
            if match[2] == "old" and not os.path.lexists(target):
                entry.rename(target)
            else:
                _remove(entry)
        except OSError:
            pass  # Gone already, or another cleaner got there first.


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path, *, clean=True):
    """Yields a temporary path beside `path` to write; on success it replaces `path`.

    The temporary file exists (empty) when yielded and has the usual permissions (0o666
    less the umask). It is fsynced, renamed onto `path` and the directory fsynced; on any
    exception, KeyboardInterrupt included, it is removed and `path` left untouched.
    `clean`: first `clean_stale` the directory (a writer of many files into one directory
    may clean it once instead).
    """
    path = pathlib.Path(path)
    if clean:
        clean_stale(path.parent)
    temporary = _temp_path(path, "new")
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temporary
        _fsync(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync(path.parent)


@contextlib.contextmanager
def scratch_file(path):
    """Yields a temporary path beside `path` (not created) that is always removed at exit,
    named so that `clean_stale` removes it if the process dies first."""
    path = pathlib.Path(path)
    clean_stale(path.parent)
    temporary = _temp_path(path, "new")
    try:
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path):
    """Yields an empty staging directory beside `path`; on success it replaces `path`.

    The old `path`, if any, is renamed aside, the staging directory renamed in, and then
    the old copy deleted, so a complete copy exists at every instant (after a crash
    between the renames, under the `old` temporary name, which `clean_stale` restores).
    Everything is fsynced. On any exception the staging directory is removed and `path`
    left as it was. The staging directory is 0o755, as an ordinary directory.
    """
    path = pathlib.Path(path)
    clean_stale(path.parent)
    staging = _temp_path(path, "new")
    staging.mkdir()
    staging.chmod(0o755)
    old = None
    try:
        yield staging
        for root, _, files in os.walk(staging):
            for name in files:
                _fsync(os.path.join(root, name))
            _fsync(root)
        if os.path.lexists(path):
            old = _temp_path(path, "old")
            os.rename(path, old)
        try:
            os.rename(staging, path)
        except BaseException:
            if old is not None:
                os.rename(old, path)
                old = None
            raise
        _fsync(path.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old is not None:
        _remove(old)
