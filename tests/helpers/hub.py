"""A stand-in for the Hugging Face Hub on 127.0.0.1, and the Hugging Face cache layout, so that tests
resolve encoders by name (``artifact.hub``) with no network at all.

``HubServer`` answers the requests ``huggingface_hub.snapshot_download`` makes for a model
repository, as read from that library's source (``HfApi.model_info``, ``HfApi.list_repo_tree``,
``file_download.get_hf_file_metadata`` and the file download itself):

- ``GET /api/models/{repo}[/revision/{rev}]``: ``{"id", "sha", "siblings": [{"rfilename"}], ...}``
- ``GET /api/models/{repo}/tree/{rev}``: ``[{"type": "file", "path", "size", "oid", "lfs"?}]``
- ``HEAD`` / ``GET /{repo}/resolve/{rev}/{path}``: the bytes, with ``X-Repo-Commit``, ``ETag`` and
  ``Content-Length`` (the client names the cached blob by the ETag and the snapshot by the commit)

and fails as the Hub does: 404 with ``X-Error-Code: RepoNotFound`` / ``RevisionNotFound`` /
``EntryNotFound``; a gated repository's files with 401 or 403 and ``X-Error-Code: GatedRepo`` (its
metadata stays public, as on the Hub). Every request is kept in ``requests`` (method, path), so a
test can say what was fetched and what never was. Written by hand: no maintained package serves the
Hub's API offline, and a dozen lines of ``http.server`` are enough for these endpoints.

``populate_cache`` lays a checkpoint directory into a cache folder the way the client does
(``models--ORG--NAME/blobs``, ``snapshots/COMMIT/`` links to the blobs, ``refs/main``).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass
class FakeRepo:
    """A model repository at one commit: its files (name -> bytes), the commit, the branches and
    tags that point at it (``refs``), and, for a gated one, the status its files answer (401/403)."""

    files: dict[str, bytes]
    commit: str
    refs: tuple[str, ...] = ("main",)
    gated: int | None = None

    def at(self, revision: str) -> bool:
        return revision == self.commit or revision in self.refs


def files_of(directory: Path) -> dict[str, bytes]:
    """Every file of a checkpoint directory (top level), by name."""
    return {p.name: p.read_bytes() for p in sorted(Path(directory).iterdir()) if p.is_file()}


def commit_of(text: str) -> str:
    """A 40-hex commit hash made from ``text`` (stable across runs)."""
    return hashlib.sha1(text.encode()).hexdigest()


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_API = re.compile(r"^/api/models/(?P<repo>[^/]+(?:/[^/]+)??)(?:/(?P<kind>revision|tree)/(?P<rev>[^/]+))?/?$")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")


@dataclass
class HubServer:
    """A threaded HTTP server on 127.0.0.1 serving ``repos`` (repo id -> ``FakeRepo``); a context
    manager whose ``endpoint`` goes into ``HF_ENDPOINT``."""

    repos: dict[str, FakeRepo]
    requests: list[tuple[str, str]] = field(default_factory=list)

    def __enter__(self) -> "HubServer":
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                hub._answer(self, body=True)

            def do_HEAD(self) -> None:
                hub._answer(self, body=False)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fetched(self) -> set[str]:
        """The file names whose bytes were sent (GET of a resolve URL)."""
        return {unquote(p.rsplit("/resolve/", 1)[1].split("/", 1)[1]) for m, p in self.requests
                if m == "GET" and "/resolve/" in p}

    # ------------------------------------------------------------------ answers
    def _answer(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        path = urlsplit(handler.path).path
        self.requests.append((handler.command, path))
        if match := _API.match(path):
            return self._api(handler, unquote(match["repo"]), match["kind"], unquote(match["rev"] or "main"), body)
        if match := _RESOLVE.match(path):
            return self._file(handler, unquote(match["repo"]), unquote(match["rev"]), unquote(match["path"]), body)
        self._send(handler, 404, b"not found", {}, body)

    def _api(self, handler, repo_id: str, kind: str | None, revision: str, body: bool) -> None:
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._error(handler, 404, "RepoNotFound", body)
        if not repo.at(revision):
            return self._error(handler, 404, "RevisionNotFound", body)
        if kind == "tree":
            entries = []
            for name, data in repo.files.items():
                entry = {"type": "file", "path": name, "size": len(data),
                         "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}
                if name.endswith((".safetensors", ".bin")):
                    entry["lfs"] = {"oid": _etag(data), "size": len(data), "pointerSize": 134}
                entries.append(entry)
            payload = entries
        else:
            payload = {"id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": False,
                       "gated": "manual" if repo.gated else False, "disabled": False, "tags": [],
                       "siblings": [{"rfilename": name} for name in repo.files]}
        self._send(handler, 200, json.dumps(payload).encode(), {"Content-Type": "application/json"}, body)

    def _file(self, handler, repo_id: str, revision: str, name: str, body: bool) -> None:
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._error(handler, 404, "RepoNotFound", body)
        if repo.gated:
            return self._error(handler, repo.gated, "GatedRepo", body)
        if not repo.at(revision):
            return self._error(handler, 404, "RevisionNotFound", body)
        if name not in repo.files:
            return self._error(handler, 404, "EntryNotFound", body)
        data = repo.files[name]
        self._send(handler, 200, data, {"X-Repo-Commit": repo.commit, "ETag": f'"{_etag(data)}"',
                                        "Content-Type": "application/octet-stream"}, body)

    def _error(self, handler, status: int, code: str, body: bool) -> None:
        self._send(handler, status, json.dumps({"error": code}).encode(),
                   {"X-Error-Code": code, "X-Error-Message": code, "Content-Type": "application/json"}, body)

    @staticmethod
    def _send(handler, status: int, data: bytes, headers: dict, body: bool) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if body:
            handler.wfile.write(data)


def populate_cache(cache: Path, repo_id: str, files: dict[str, bytes], commit: str,
                   refs: tuple[str, ...] = ("main",)) -> Path:
    """Lay ``files`` into the Hugging Face cache folder ``cache`` (``HF_HUB_CACHE``) as the client
    does for ``repo_id`` at ``commit``: blobs named by their hash, the snapshot's files as relative
    links to them, and each of ``refs`` holding the commit. Returns the snapshot directory."""
    storage = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    snapshot = storage / "snapshots" / commit
    (storage / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        blob = storage / "blobs" / _etag(data)
        blob.write_bytes(data)
        link = snapshot / name
        if not link.exists():
            os.symlink(os.path.relpath(blob, snapshot), link)
    for ref in refs:
        (storage / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (storage / "refs" / ref).write_text(commit)
    return snapshot
