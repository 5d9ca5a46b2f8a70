"""The 1EdTech Open Badges 2.0 reference validator (PyPI `openbadges` 1.1.2), run offline.

Its pins are from 2017, so it lives in its own virtualenv under .cache/ (installed with
--no-deps, plus the dependencies below), and runs as a subprocess. Everything it fetches goes
to a local HTTP server: our documents, and the JSON-LD contexts from shared/ob2, which a
requests adapter substitutes for https://w3id.org/openbadges/v2 and friends. Any other URL
is refused, so a pass never depends on the network.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from shared_files import shared

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".cache" / "ob2-validator"
CONTEXT_FILES = {
    "https://w3id.org/openbadges/v2": "context-v2.json",
    "https://w3id.org/openbadges/v1": "context-v1.json",
    "https://openbadgespec.org/v1/context.json": "legacy-v1.json",
}
# openbadges 1.1.2's own pins (2017) do not build on Python 3.11, so it goes in with --no-deps and
# these. PyLD must stay 1.x: 2.0 changed the document-loader signature the validator relies on.
# The marker file records this list, so editing it rebuilds the virtualenv.
REQUIREMENTS = [
    "openbadges==1.1.2 --no-deps",
    "PyLD==1.0.5",
    "aniso8601==10.0.1",
    "click==8.5.1",
    "future==1.0.0",
    "jsonschema==4.26.0",
    "language-tags==1.3.2",
    "openbadges-bakery==2.0.0",
    "pycryptodome==4.4.0",
    "pydux==0.2.2",
    "python-jose==3.5.0",
    "python-mimeparse==2.0.0",
    "pytz==2026.6",
    "requests==2.34.2",
    "requests-cache==1.3.3",
    "rfc3986==2.0.0",
    "six==1.17.0",
    "validators==0.36.0",
]


class ValidatorUnavailable(RuntimeError):
    """The validator's virtualenv could not be built here (no network, pip failure, timeout)."""


def _python() -> Path:
    return VENV / "bin" / "python"


def _run(cmd: list[str], deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ValidatorUnavailable("timed out building the validator virtualenv")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=remaining, check=False)
    except subprocess.TimeoutExpired as error:
        raise ValidatorUnavailable(f"timed out: {' '.join(cmd[:4])}…") from error
    if done.returncode != 0:
        raise ValidatorUnavailable(f"{' '.join(cmd[:6])}… failed: {(done.stderr or done.stdout)[-800:]}")


def ensure_validator(timeout: float = 300) -> Path:
    """The validator venv's python, building the venv once (time-boxed) if needed."""
    VENV.parent.mkdir(parents=True, exist_ok=True)
    marker = VENV / "cohortbot-requirements.json"
    wanted = json.dumps(REQUIREMENTS)
    with open(VENV.parent / "ob2-validator.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs must not build it at once
        if marker.exists() and marker.read_text() == wanted and _python().exists():
            return _python()
        deadline = time.monotonic() + timeout
        _run([sys.executable, "-m", "venv", "--clear", str(VENV)], deadline)
        pip = [str(_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        first, *rest = REQUIREMENTS
        _run(pip + first.split(), deadline)
        _run(pip + rest, deadline)
        _run([str(_python()), "-c", "import openbadges.verifier"], deadline)
        marker.write_text(wanted)
    return _python()


class DocumentServer:
    """A loopback HTTP server for badge documents and the OB 2.0 contexts (under /_contexts/)."""

    def __init__(self) -> None:
        self._routes: dict[str, tuple[int, str, bytes]] = {}
        self.served: list[str] = []  # paths requested, so a test can see the contexts came from here
        routes, served = self._routes, self.served

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                served.append(path)
                status, content_type, body = routes.get(path, (404, "text/plain", b"not here"))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        for name in CONTEXT_FILES.values():
            self.add(f"/_contexts/{name}", shared("ob2", name).read_bytes())

    def add(
        self, path_or_url: str, body: bytes, content_type: str = "application/ld+json", status: int = 200
    ) -> None:
        """Serve `body` at a path, or at a full URL on this server."""
        self._routes[path_or_url.removeprefix(self.url)] = (status, content_type, body)

    def add_json(self, url: str, doc: dict[str, Any], status: int = 200) -> None:
        self.add(url, json.dumps(doc).encode("utf-8"), "application/ld+json", status)

    def context_urls(self) -> dict[str, str]:
        return {remote: f"{self.url}/_contexts/{name}" for remote, name in CONTEXT_FILES.items()}

    def __enter__(self) -> DocumentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# Runs inside the validator's virtualenv: keep to what that Python has.
RUNNER = r'''
import json, sys, urllib.request
import requests
from requests.adapters import HTTPAdapter

target, server, rewrite, email = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]

class Offline(HTTPAdapter):
    """Contexts from the local server; anything not on it is refused."""
    def send(self, request, **kwargs):
        url = request.url
        request.url = rewrite.get(url.rstrip("/"), url)
        if not request.url.startswith(server + "/"):
            raise requests.ConnectionError("offline validator: refusing " + url)
        return super().send(request, **kwargs)

_init = requests.Session.__init__
def _offline_init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.mount("http://", Offline())
    self.mount("https://", Offline())
requests.Session.__init__ = _offline_init

def _no_urllib(*args, **kwargs):
    raise OSError("offline validator: urllib is not allowed")
urllib.request.urlopen = _no_urllib

from openbadges.verifier import verify
result = verify(target, recipient_profile={"email": email} if email else None, use_cache=False)
print("\n@@REPORT@@" + json.dumps(result))
'''


def run_validator(
    python: Path, url: str, server: DocumentServer, *, recipient_email: str = "", timeout: float = 120
) -> dict[str, Any]:
    """The validator's full result ({graph, input, report}) for the assertion at `url`."""
    done = subprocess.run(
        [str(python), "-c", RUNNER, url, server.url, json.dumps(server.context_urls()), recipient_email],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    _, marker, payload = done.stdout.rpartition("@@REPORT@@")
    if done.returncode != 0 or not marker:
        raise RuntimeError(f"validator crashed (exit {done.returncode}): {done.stderr[-2000:]}")
    return json.loads(payload)
