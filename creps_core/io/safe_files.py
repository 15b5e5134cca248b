"""Writing files so that nothing half-written or planted is ever trusted or followed.

* :func:`atomic_write` writes to a fresh temporary sibling (unique per process and call,
  created exclusively and never through a symbolic link) and renames it into place.
* :func:`private_dir` makes or reuses a work folder only when it is a real directory owned
  by this user: a folder or link planted by someone else (say in /tmp) is refused, so an
  export can never be steered into overwriting files elsewhere.
* :func:`work_subfolder` checks the folders inside a work folder the same way before every
  write into them: a link planted inside is removed, never followed.
"""

from __future__ import annotations

import errno
import glob
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class UnsafePathError(OSError):
    """A path this tool was about to write through is a link, or not ours."""


class DiskFullError(OSError):
    """A file could not be written for want of space; the message names the file."""


# A full disk, a full quota and a file-size limit (RLIMIT_FSIZE) all mean: this file cannot be written.
NO_SPACE_REASONS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
                    errno.EFBIG: "the file would exceed the size limit for files"}


def no_space(e: BaseException) -> bool:
    """True when ``e`` says the disk (or a size limit) is full."""
    return isinstance(e, OSError) and e.errno in NO_SPACE_REASONS


def disk_full(e: OSError, path: Path, advice: str = "free space and run again") -> DiskFullError:
    """One line naming the file that could not be written and why (``e``: a :func:`no_space` error)."""
    assert e.errno is not None  # no_space(e): its errno is one of NO_SPACE_REASONS
    return DiskFullError(e.errno, f"{path} was not written: {NO_SPACE_REASONS[e.errno]}; {advice}")


def temp_sibling(path: Path) -> Path:
    """A hidden temporary name beside ``path``, unique to this process and call (so it cannot
    be predicted and planted), keeping the suffix (writers such as ffmpeg choose by it)."""
    return path.with_name(f".{path.stem}.partial-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete temporary siblings of ``path`` left by processes that no longer run (a kill during
    a write); those of running processes (another export to the same name) are left alone."""
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.stem)}.partial-*"):
        pid = tmp.name[len(f".{path.stem}.partial-"):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)) and is_regular_file(tmp):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def open_exclusive(path: Path) -> BinaryIO:
    """Open a new file for writing: fails if anything (file or link) already has the name."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o644)
    return os.fdopen(fd, "wb")


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None] | bytes) -> Path:
    """Write ``path`` through a temporary sibling, then rename: readers see the old file or the
    new one, never a part.  ``write`` is the bytes, or a function that writes into the file."""
    path = Path(path)
    tmp = temp_sibling(path)
    try:
        with open_exclusive(tmp) as f:
            if isinstance(write, (bytes, bytearray)):
                f.write(write)
            else:
                write(f)
        os.replace(tmp, path)
    except OSError as e:
        if no_space(e) and not isinstance(e, DiskFullError):
            raise disk_full(e, path) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return path


def is_regular_file(path: Path) -> bool:
    """True for a plain file (not a link, folder or device) without following links."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def is_real_dir(path: Path) -> bool:
    """True for a folder itself (not a link to one), without following links."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def work_subfolder(root: Path, *parts: str) -> Path:
    """``root/parts...`` ready to write into, checked with lstat before every write (never followed).

    ``root`` must still be a real folder: it is never made again here, because a work folder that
    vanished belongs to a job another process finished (FileNotFoundError says so).  Each part is
    made, or kept when it is a real folder; a link or file under its name is removed first (inside
    a private work folder every entry is the tool's own), so nothing is written through a link."""
    if not is_real_dir(root):
        if os.path.lexists(root):
            raise UnsafePathError(f"{root} is no longer a folder of ours (a link or a file): remove it and run again")
        raise FileNotFoundError(errno.ENOENT, f"{root}: the work folder is gone")
    path = root
    for part in parts:
        path = path / part
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if not is_real_dir(path):
                os.unlink(path)
                os.mkdir(path, 0o700)
    return path


def private_dir(path: Path) -> Path:
    """Create ``path`` (mode 700), or reuse it if it is a real directory owned by this user."""
    try:
        os.mkdir(path, 0o700)
        return path
    except FileExistsError:
        pass
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UnsafePathError(f"{path} is in the way of the export's work folder and is not a folder of ours "
                              "(a link or a file): remove it and run the export again")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise UnsafePathError(f"{path} belongs to another user: remove it, or export to another folder")
    return path
