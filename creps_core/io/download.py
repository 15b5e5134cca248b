"""Files named by URL, as the official scripts take them: fetched once into the user's cache folder.

``--network https://.../network-snapshot.pkl`` works as in gen_images.py: the first run downloads
the file (a bar in bytes), later runs -- and ``--offline`` ones -- open the cached copy without
touching the network.  What is downloaded goes to a hidden partial file beside its cache name
(``.NAME.part``); an interrupted transfer is continued from where it stopped with an HTTP Range
request, in the same run (a dropped connection) or the next one (a killed run).  Only the caller
moves a finished partial into the cache (:func:`keep`), after it opened it: a cache name never holds
a file that is half there or that the loader refused.

The standard library's urllib does the transfer.  pooch (made for downloads into a cache) was
considered: it neither resumes an interrupted transfer nor checks a length a server announced, the
two things a 233 MB checkpoint over a poor connection needs; platformdirs gives the cache folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from urllib.parse import unquote, urlparse

from creps_core.io.safe_files import disk_full, is_regular_file, no_space, private_dir
from creps_core.progress import Progress, format_bytes

APP_NAME = "creps-explorer"
CHUNK = 1 << 20
ATTEMPTS = 4  # transfers per run: a connection that drops is resumed this many times before giving up
TIMEOUT_S = 60.0  # a server silent this long counts as a dropped connection
SCHEMES = ("http://", "https://")

Report = Callable[[Progress], None]


class DownloadError(OSError):
    """A file could not be downloaded; the message says which URL and why, in one line."""


def is_url(name: str) -> bool:
    return name.lower().startswith(SCHEMES)


def cache_folder() -> Path:
    """Where downloads are kept: the platform's cache folder for this tool (``creps info`` shows it)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME)) / "downloads"


def cached_file(url: str) -> Path:
    """The cache name of ``url``: its file name, after a short hash of the whole URL (two URLs with
    the same file name, or the same name with other query strings, stay apart)."""
    name = unquote(urlparse(url).path.rsplit("/", 1)[-1])
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")[:100] or "download"
    return cache_folder() / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}"


def partial_file(url: str) -> Path:
    cached = cached_file(url)
    return cached.with_name(f".{cached.name}.part")


def keep(partial: Path, url: str) -> Path:
    """Move a finished download into the cache under its name (atomically: a rename)."""
    cached = cached_file(url)
    os.replace(partial, cached)
    return cached


def download(url: str, report: Report | None = None) -> Path:
    """Fetch ``url`` into its partial file, continuing what an earlier transfer left, and return the
    finished partial (the caller opens it and then :func:`keep` s it, or deletes it).

    A connection that drops is resumed (HTTP Range) up to :data:`ATTEMPTS` times; after that the
    partial stays for the next run.  A server whose bytes contradict its own headers (a length it
    does not deliver, a range it did not ask for) gets one line and leaves no partial file."""
    cache_folder().parent.mkdir(parents=True, exist_ok=True)
    private_dir(cache_folder())  # a real folder of this user's: never a link planted in a shared place
    part = partial_file(url)
    if os.path.lexists(part) and not is_regular_file(part):
        part.unlink()  # a link or folder planted under the partial's name: never written through
    stage = f"downloading {cached_file(url).name.split('-', 1)[1]}"
    total: int | None = None
    short_from_start: int | None = None  # where a whole-file answer ended short last time
    for _ in range(ATTEMPTS):
        have = part.stat().st_size if part.exists() else 0
        if total is not None and have == total:
            return part
        try:
            start, total = _transfer(url, part, have, total, stage, report)
        except _Dropped:
            continue
        except _Lie as e:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{url}: {e}; nothing was kept") from None
        done = part.stat().st_size
        if total is None or done == total:
            return part
        if start == 0:  # a whole-file answer that ended short: the same length twice is the server's
            if short_from_start == done:
                part.unlink(missing_ok=True)
                raise DownloadError(f"{url}: the server announced {format_bytes(total)} but sends "
                                    f"{format_bytes(done)}; nothing was kept") from None
            short_from_start = done
    have = part.stat().st_size if part.exists() else 0
    of = f" of {format_bytes(total)}" if total else ""
    raise DownloadError(f"{url}: the transfer broke off {ATTEMPTS} times ({format_bytes(have)}{of} are kept); "
                        "run the command again to resume it")


class _Dropped(Exception):
    """The connection broke off during a transfer: the next attempt resumes it."""


class _Lie(Exception):
    """The server's answer contradicts itself or the request."""


def _transfer(url: str, part: Path, have: int, total: int | None, stage: str,
              report: Report | None) -> tuple[int, int | None]:
    """One request (from byte ``have``) written into ``part``; returns (first byte written, total
    length the server announced, or None)."""
    headers = {"User-Agent": f"{APP_NAME} (urllib)", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing after byte `have`: all there (a run that stopped before opening
            #                         it), or the file is shorter than the server announced
            whole = re.fullmatch(r"bytes \*/(\d+)", (e.headers.get("Content-Range") or "").strip())
            if whole and int(whole.group(1)) == have and total in (None, have):
                return have, have
            claim = f"announced {format_bytes(total)} but " if total else ""
            raise _Lie(f"the server {claim}has only {format_bytes(have)}") from None
        raise DownloadError(f"{url}: the server answered {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DownloadError(f"{url}: cannot download ({e.reason})") from None
    except (TimeoutError, ConnectionError, HTTPException) as e:
        raise DownloadError(f"{url}: cannot download ({e or type(e).__name__})") from None
    with response:
        start, announced = _span(response, have)
        if total is not None and announced is not None and announced != total:
            raise _Lie(f"the file's length changed during the download ({total:,} bytes, then {announced:,})")
        total = announced
        try:
            _write(response, part, start, total, stage, report)
        except DownloadError:
            raise
        except OSError as e:
            if no_space(e):
                raise disk_full(e, part, "free space and run again to resume the download") from None
            raise _Dropped from None
        except HTTPException:
            raise _Dropped from None
    return start, total


def _span(response: HTTPResponse, have: int) -> tuple[int, int | None]:
    """(first byte of the body, whole file's length or None) from the answer's headers."""
    if response.status == 206:
        found = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", "").strip())
        if not found or int(found.group(1)) != have:
            raise _Lie(f"the server sent another part of the file than the one asked for "
                       f"({response.headers.get('Content-Range')!r} for bytes {have}-)")
        return have, None if found.group(3) == "*" else int(found.group(3))
    length = response.headers.get("Content-Length")
    return 0, int(length) if length and length.isdigit() else None


def _write(response: HTTPResponse, part: Path, start: int, total: int | None, stage: str,
           report: Report | None) -> None:
    """The answer's body into ``part`` from byte ``start`` (earlier bytes stay), reporting bytes."""
    fd = os.open(part, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "r+b") as f:
        _lock(f.fileno(), part)
        f.seek(start)
        f.truncate()
        done = start
        if report is not None and total:
            report(Progress(stage, done, total))  # a resumed download's bar starts where it is
        while True:
            try:
                block = response.read(CHUNK)
            except (TimeoutError, ConnectionError) as e:
                raise _Dropped from e
            if not block:
                break
            if total is not None and done + len(block) > total:
                raise _Lie(f"the server sends more than the {format_bytes(total)} it announced")
            f.write(block)
            done += len(block)
            if report is not None:
                report(Progress(stage, done, total or done))


def _lock(fd: int, part: Path) -> None:
    """One writer per partial file: a second command downloading the same URL stops with one line
    instead of writing into the same bytes (POSIX; elsewhere nothing is locked)."""
    try:
        import fcntl
    except ImportError:  # Windows
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise DownloadError(f"another command is downloading into {part} now; wait for it, then run again") from None
