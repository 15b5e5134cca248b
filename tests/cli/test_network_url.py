"""`--network http(s)://...` as the official scripts take it, against a real HTTP server on 127.0.0.1.

The first run downloads into the user's cache folder (a bar, the sha256), later runs and --offline
ones never touch the network, an interrupted transfer is resumed with an HTTP Range request, and a
server whose bytes contradict its headers gets one line and leaves nothing in the cache."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from creps_core.cli.main import main
from creps_core.io.download import cache_folder, cached_file, partial_file

from ..core_fixtures import golden_pickle


class Served:
    """What the test server sends, and what it was asked."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.claimed_length: int | None = None  # a Content-Length that lies (None: the truth)
        self.cut_after: int | None = None  # drop the connection after this many bytes of each answer
        self.ranges = True  # answer Range requests
        self.requests: list[str | None] = []  # the Range header of each request (None: none)


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 -- http.server's name
            asked = self.headers.get("Range")
            served.requests.append(asked)
            body, start = served.body, 0
            if asked and served.ranges:
                start = int(asked.removeprefix("bytes=").rstrip("-"))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                total = served.claimed_length or len(body)
                self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
                self.send_header("Content-Length", str(total - start))
            else:
                self.send_response(200)
                self.send_header("Content-Length", str(served.claimed_length or len(body)))
            self.end_headers()
            part = body[start:]
            if served.cut_after is not None:
                part = part[:served.cut_after]
            self.wfile.write(part)
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[ThreadingHTTPServer, Served]]:
    served = Served(b"")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, served
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=30)


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch) -> Path:
    """The user's cache folder (platformdirs follows XDG_CACHE_HOME) in the test's own folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def url_of(httpd: ThreadingHTTPServer, name: str = "network-snapshot-000100.pkl") -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/models/{name}"


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


RENDER = ["render", "--seeds", "1", "--trunc", "0.7", "--size", "24x16"]


def test_downloaded_once_then_opened_from_the_cache_with_the_server_gone(tmp_path, server, capsys):
    httpd, served = server
    local, _ = golden_pickle(tmp_path, "small64_golden.npz")
    served.body = local.read_bytes()
    url = url_of(httpd)
    assert main([*RENDER, "--network", local.as_posix(), "--outdir", str(tmp_path / "local")]) == 0
    capsys.readouterr()

    assert main([*RENDER, "--network", url, "--outdir", str(tmp_path / "first")]) == 0
    err = capsys.readouterr().err
    digest = hashlib.sha256(served.body).hexdigest()
    assert "downloading" in err and f"sha256 {digest}" in err and str(cache_folder()) in err
    assert served.requests == [None]
    cached = cached_file(url)
    assert cached.read_bytes() == served.body and cached.parent == cache_folder()
    assert not partial_file(url).exists()
    assert (pixels(tmp_path / "first" / "seed0001.png") == pixels(tmp_path / "local" / "seed0001.png")).all()

    httpd.shutdown()  # the server is gone: the cache alone answers, with or without --offline
    for flags, out in (([], "second"), (["--offline"], "offline")):
        assert main([*RENDER, "--network", url, *flags, "--outdir", str(tmp_path / out)]) == 0
        assert (pixels(tmp_path / out / "seed0001.png") == pixels(tmp_path / "local" / "seed0001.png")).all()
    assert "downloading" not in capsys.readouterr().err
    assert served.requests == [None]


def test_a_dropped_connection_is_resumed_with_a_range_request(tmp_path, server, ckpt):
    httpd, served = server
    served.body = Path(ckpt).read_bytes()
    served.cut_after = len(served.body) // 2 + 1  # every answer breaks off after half the file
    url = url_of(httpd, "tiny.safetensors")
    assert main([*RENDER, "--network", url, "--outdir", str(tmp_path / "u")]) == 0
    assert served.requests == [None, f"bytes={served.cut_after}-"]
    assert cached_file(url).read_bytes() == served.body
    assert main([*RENDER, "--network", str(ckpt), "--outdir", str(tmp_path / "l")]) == 0
    assert (pixels(tmp_path / "u" / "seed0001.png") == pixels(tmp_path / "l" / "seed0001.png")).all()


def test_an_interrupted_download_resumes_in_the_next_run(tmp_path, server, ckpt, capsys):
    httpd, served = server
    served.body = Path(ckpt).read_bytes()
    served.cut_after = len(served.body) // 10  # four attempts of a tenth each: not enough in one run
    url = url_of(httpd, "tiny.safetensors")
    assert main([*RENDER, "--network", url, "--outdir", str(tmp_path / "u")]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the bar: one line
    assert err.startswith("creps render: error: ") and "broke off" in err and "run the command again to resume" in err
    kept = partial_file(url).stat().st_size
    assert kept == 4 * served.cut_after and not cached_file(url).exists() and not (tmp_path / "u").exists()
    served.cut_after = None
    assert main([*RENDER, "--network", url, "--outdir", str(tmp_path / "u")]) == 0
    assert served.requests[-1] == f"bytes={kept}-"
    assert cached_file(url).read_bytes() == served.body and not partial_file(url).exists()


@pytest.mark.parametrize("lie", ["longer", "shorter"])
def test_a_server_that_lies_about_the_length_gets_one_line_and_leaves_nothing(tmp_path, server, ckpt, capsys, lie):
    httpd, served = server
    served.body = Path(ckpt).read_bytes()
    served.claimed_length = len(served.body) + 5000 if lie == "longer" else len(served.body) // 2
    url = url_of(httpd, "tiny.safetensors")
    assert main([*RENDER, "--network", url, "--outdir", str(tmp_path / "u")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    err = err.strip().splitlines()[-1]  # after the bar: one line
    assert err.startswith("creps render: error: ") and url in err and "nothing was kept" in err
    assert ("announced" in err) if lie == "longer" else ("not a checkpoint" in err)
    assert not cached_file(url).exists() and not partial_file(url).exists()
    assert not (tmp_path / "u").exists()


def test_offline_with_nothing_cached_never_touches_the_network(tmp_path, server, ckpt, capsys):
    httpd, served = server
    served.body = Path(ckpt).read_bytes()
    url = url_of(httpd, "tiny.safetensors")
    assert main([*RENDER, "--network", url, "--offline", "--outdir", str(tmp_path / "u")]) == 1
    err = capsys.readouterr().err.strip()
    assert "--offline" in err and str(cache_folder()) in err and "\n" not in err
    assert served.requests == []


def test_info_shows_the_download_cache(capsys):
    assert main(["info", "demo"]) == 0
    assert str(cache_folder()) in capsys.readouterr().out


def test_a_download_finished_but_never_opened_is_opened_without_downloading_again(tmp_path, server, ckpt):
    """A run killed between the last byte and the load leaves the whole file as the partial: the next
    run asks for the rest, hears there is none (416 with the same length), and opens it."""
    httpd, served = server
    served.body = Path(ckpt).read_bytes()
    url = url_of(httpd, "tiny.safetensors")
    partial_file(url).parent.mkdir(parents=True)
    partial_file(url).write_bytes(served.body)
    assert main([*RENDER, "--network", url, "--outdir", str(tmp_path / "u")]) == 0
    assert served.requests == [f"bytes={len(served.body)}-"]
    assert cached_file(url).read_bytes() == served.body and not partial_file(url).exists()


def test_two_downloads_of_one_url_never_write_into_the_same_file(tmp_path, server, ckpt, capsys):
    fcntl = pytest.importorskip("fcntl")  # POSIX: elsewhere nothing is locked
    httpd, served = server
    served.body = Path(ckpt).read_bytes()
    url = url_of(httpd, "tiny.safetensors")
    partial_file(url).parent.mkdir(parents=True)
    with open(partial_file(url), "wb") as other:  # another command is downloading it now
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        assert main([*RENDER, "--network", url, "--outdir", str(tmp_path / "u")]) == 1
    assert "another command is downloading" in capsys.readouterr().err.strip().splitlines()[-1]
    assert main([*RENDER, "--network", url, "--outdir", str(tmp_path / "u")]) == 0  # once it is done
