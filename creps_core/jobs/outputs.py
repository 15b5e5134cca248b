"""What a command may write over: its own earlier outputs, never its inputs or anybody else's files.

An output's name may already hold something.  It is replaced (as the official scripts replace
their outputs) only when it is an earlier output of this tool, recognised by the mark every output
carries: its provenance record (a PNG's text chunk, a TIFF's description, a JPEG's comment, a
sidecar's JSON), or the mark of a Deep Zoom descriptor, viewer page or tiles folder
(:mod:`creps_core.jobs.export.deepzoom`).  Anything else under an output's name -- a file or folder the user
made (a page a browser saved beside its ``_files`` folder), a link, an input of the same command --
is kept: the command stops before writing anything, with one line naming it and saying how to go
on (``--force`` replaces it; or another name).
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable, Iterable
from pathlib import Path

from creps_core.io.safe_files import is_regular_file
from creps_core.jobs.metadata import RenderRecord, read_record

Owned = Callable[[Path], bool]
"""Whether what is under an output's name is an earlier output of this tool (never follows a link)."""

RECORD_SUFFIXES = (".png", ".tif", ".tiff", ".btf", ".json")  # files whose record read_record reads itself
JPEG_SUFFIXES = (".jpg", ".jpeg")


class KeptError(FileExistsError):
    """Something this command must not replace is in the way.

    ``what`` says what is kept, without command-line words, so the explorer can ask its own
    question; ``remedy`` names the choice that lets the job go on: ``force`` (replace what is in the
    way) or ``fresh`` (discard another job's unfinished work). The message adds the option to pass."""

    def __init__(self, what: str, remedy: str) -> None:
        advice = {"force": "choose another name, or pass --force to replace",
                  "fresh": "pass --fresh to discard it, or choose another name"}[remedy]
        super().__init__(errno.EEXIST, f"{what}; {advice}")
        self.what, self.remedy = what, remedy


def carries_record(path: Path) -> bool:
    """A plain file holding this tool's provenance record (PNG, TIFF, JPEG or a sidecar JSON)."""
    suffix = path.suffix.lower()
    if not is_regular_file(path) or suffix not in RECORD_SUFFIXES + JPEG_SUFFIXES:
        return False
    try:
        if suffix in JPEG_SUFFIXES:  # read_record would read the sidecar, not the JPEG's own comment
            RenderRecord.from_json(_jpeg_comment(path))
        else:
            read_record(path)
    except Exception:  # noqa: BLE001 -- whatever a foreign file makes a reader raise, it is not ours
        return False
    return True


def holds_text(mark: str) -> Owned:
    """A plain file with ``mark`` near its start (the mark of a descriptor or a page this tool wrote)."""
    wanted = mark.encode()

    def owned(path: Path) -> bool:
        if not is_regular_file(path):
            return False
        with open(path, "rb") as f:
            return wanted in f.read(4096)

    return owned


def _jpeg_comment(path: Path) -> str:
    """The first comment (COM segment) before a JPEG's image data, reading only the headers (a JPEG
    export can be 65535 pixels a side: too large for an image library to open)."""
    with open(path, "rb") as f:
        if f.read(2) != b"\xff\xd8":
            raise ValueError("not a JPEG")
        while True:
            marker, length = struct.unpack(">2sH", f.read(4))
            if marker[0] != 0xFF or marker[1] == 0xDA:  # start of scan: no comment before the pixels
                raise ValueError("no comment")
            if marker[1] == 0xFE:
                return f.read(length - 2).decode("utf-8")
            f.seek(length - 2, os.SEEK_CUR)


def claim(outputs: Iterable[tuple[Path, Owned]], inputs: Iterable[str | os.PathLike | None] = (),
          force: bool = False) -> list[Path]:
    """Refuse (KeptError), before anything is written, when an output's name holds an input of this
    command or anything this tool did not write.  ``force`` lets the command replace them: inputs are
    read before outputs are written, and a link is replaced itself, never followed.

    Returns the names that hold something the command will replace (its own earlier outputs, and
    with ``force`` whatever is there), so the command can say so."""
    outputs = list(outputs)
    present = [path for path, _ in outputs if os.path.lexists(path)]
    if force:
        return present
    read = [os.stat(p) for p in inputs if p and os.path.exists(p)]
    kept = []
    for path, owned in outputs:
        if not os.path.lexists(path):
            continue
        if os.path.exists(path) and any(os.path.samestat(os.stat(path), s) for s in read):
            kept.append(f"{path} is an input of this command")
        elif not owned(path):
            what = "is a link, not an output of this tool" if os.path.islink(path) else "was not written by this tool"
            kept.append(f"{path} {what}")
    if len(kept) == 1:
        raise KeptError(f"{kept[0]}: it is kept", "force")
    if kept:
        raise KeptError(f"{kept[0]} (and {len(kept) - 1} more): they are kept", "force")
    return present


def replacing_note(replaced: list[Path], force: bool = False) -> str | None:
    """The line that says what a command replaces (None when it replaces nothing): its own earlier
    outputs, or with ``force`` whatever was there."""
    if not replaced:
        return None
    more = f" and {len(replaced) - 1} more" if len(replaced) > 1 else ""
    why = "--force" if force else "earlier output of this tool"
    return f"replacing {replaced[0]}{more} ({why})"
