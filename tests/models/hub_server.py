"""A fake Hugging Face Hub on 127.0.0.1 for tests: the few endpoints tuilab's Hub path calls.

What is real: the endpoints, status codes and headers are the ones huggingface_hub (2.x, as installed)
reads, checked against its source: `GET /api/models/{repo}[/revision/{rev}]?blobs=true` (the file list
with sizes, `HfApi.model_info`), `HEAD`/`GET /{repo}/resolve/{rev}/{file}` with `X-Repo-Commit`, `ETag`,
`Content-Length`, and `Range` answered by 206 with `Content-Range` (`hf_hub_download`,
`get_safetensors_metadata`), and errors with the `X-Error-Code` values `hf_raise_for_status` maps to
exceptions (`RepoNotFound`, `GatedRepo`, `EntryNotFound`, `RevisionNotFound`). Served files are real
bytes: config.json fixtures copied from the Hub (each cites its source) and GGUF / safetensors headers
written by the `gguf` package and the safetensors layout. What is fake: the data after a header, served
as zero bytes up to the file's declared size, so a 18 GB file costs nothing.

The server runs in a daemon thread, answers until `stop()` (or its context manager exits), and stops
itself after `lifetime_s` so a stuck test can never leave it running.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_RESOLVE_RE = re.compile(r"^/([\w.-]+/[\w.-]+)/resolve/([^/]+)/(.+)$")
_API_RE = re.compile(r"^/api/models/([\w.-]+/[\w.-]+)(?:/revision/([^/]+))?$")
_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")
_ZEROS = bytes(1 << 16)


@dataclass
class FakeFile:
    """A file of `size_bytes` whose first bytes are `head`; the rest reads as zeros."""

    head: bytes
    size_bytes: int = 0

    def __post_init__(self) -> None:
        self.size_bytes = max(self.size_bytes, len(self.head))

    def chunks(self, start: int, end: int) -> Any:
        """Bytes start..end (inclusive) in pieces."""
        pos = start
        while pos <= end:
            if pos < len(self.head):
                piece = self.head[pos : min(end + 1, len(self.head))]
            else:
                piece = _ZEROS[: min(len(_ZEROS), end + 1 - pos)]
            yield piece
            pos += len(piece)


@dataclass
class FakeRepo:
    files: dict[str, FakeFile]
    sha: str = "0123456789abcdef0123456789abcdef01234567"
    gated: bool = False  # files need `Authorization: Bearer <token>` with the server's token


@dataclass
class Served:
    """One answered request: what was asked and how many body bytes went out."""

    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int = 0


@dataclass
class FakeHub:
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    token: str = "hf_fake_token"
    fail_status: int | None = None  # answer every request with this status (e.g. 503)
    hang_s: float = 0.0  # wait this long before answering (a stalled Hub)
    lifetime_s: float = 120.0
    log: list[Served] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._stop_timer: threading.Timer | None = None

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start() the fake Hub first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._stop_timer = threading.Timer(self.lifetime_s, self.stop)
        self._stop_timer.daemon = True
        self._stop_timer.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if self._stop_timer is not None:
            self._stop_timer.cancel()
        if server is not None:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def bytes_served(self, filename: str) -> int:
        return sum(s.body_bytes for s in self.log if s.method == "GET" and s.path.endswith("/" + filename))


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def end_headers(self) -> None:
        # one request per connection: a stopped server must really be gone, not live on in a kept-alive
        # connection's handler thread
        self.send_header("Connection", "close")
        self.close_connection = True
        super().end_headers()

    def _answer(self, send_body: bool) -> None:
        fake = self.fake
        if fake.hang_s:
            threading.Event().wait(fake.hang_s)
        path = self.path.split("?", 1)[0]
        served = Served(self.command, path, self.headers.get("Range"), 0)
        fake.log.append(served)
        if fake.fail_status is not None:
            return self._error(served, fake.fail_status, None, "the fake Hub is failing on purpose")
        if m := _API_RE.match(path):
            return self._model_info(served, m.group(1), m.group(2))
        if m := _RESOLVE_RE.match(path):
            return self._resolve(served, m.group(1), m.group(2), m.group(3), send_body)
        return self._error(served, 404, None, "no such endpoint")

    def _repo(self, served: Served, repo_id: str, revision: str | None) -> FakeRepo | None:
        repo = self.fake.repos.get(repo_id)
        if repo is None:
            # the Hub answers 401 RepoNotFound for a missing (or private) repo when not logged in
            self._error(served, 401, "RepoNotFound", "Repository not found")
            return None
        if revision not in (None, "main", repo.sha):
            self._error(served, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return None
        return repo

    def _model_info(self, served: Served, repo_id: str, revision: str | None) -> None:
        repo = self._repo(served, repo_id, revision)
        if repo is None:
            return
        siblings = [{"rfilename": name, "size": f.size_bytes} for name, f in sorted(repo.files.items())]
        body = {
            "id": repo_id,
            "modelId": repo_id,
            "sha": repo.sha,
            "private": False,
            "gated": "manual" if repo.gated else False,
            "siblings": siblings,
        }
        self._json(served, 200, body)

    def _resolve(self, served: Served, repo_id: str, revision: str, filename: str, send_body: bool) -> None:
        repo = self._repo(served, repo_id, revision)
        if repo is None:
            return
        if repo.gated and self.headers.get("Authorization") != f"Bearer {self.fake.token}":
            return self._error(served, 401, "GatedRepo", f"Access to model {repo_id} is restricted")
        f = repo.files.get(filename)
        if f is None:
            return self._error(served, 404, "EntryNotFound", f"{filename} does not exist", repo.sha)
        start, end, status = 0, f.size_bytes - 1, 200
        rng = _RANGE_RE.match(self.headers.get("Range") or "")
        if rng:
            start = int(rng.group(1))
            end = min(int(rng.group(2)) if rng.group(2) else end, f.size_bytes - 1)
            if start >= f.size_bytes:
                return self._error(served, 416, None, "range not satisfiable", repo.sha)
            status = 206
        served.status = status
        self.send_response(status)
        self.send_header("X-Repo-Commit", repo.sha)
        self.send_header("ETag", f'"{repo.sha[:8]}-{filename}-{f.size_bytes}"')
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{f.size_bytes}")
        self.end_headers()
        if send_body:
            self._write(served, f.chunks(start, end))

    def _write(self, served: Served, chunks: Any) -> None:
        try:
            for piece in chunks:
                self.wfile.write(piece)
                served.body_bytes += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client read what it needed and hung up

    def _json(self, served: Served, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        served.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self._write(served, [data])

    def _error(
        self, served: Served, status: int, code: str | None, message: str, sha: str | None = None
    ) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        if sha:
            headers["X-Repo-Commit"] = sha
        self._json(served, status, {"error": message}, headers)
