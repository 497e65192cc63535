"""A throwaway etcd server: Debian's ``etcd`` on a free loopback port with a temporary data directory.

Tests, benchmarks and demos start one with `EtcdServer.start` (or ``with EtcdServer() as server:``) and
get its ``etcd://127.0.0.1:PORT`` address; `stop` ends the process by its pid and removes the data
directory. The server runs in real time, outside any simulated clock: it is a process, not a model.

What this is not: a way to run etcd in production (one member, no TLS, no auth, data thrown away).
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import IO, Self

#: How to get the binary on Debian and Ubuntu (the tests print this when it is missing).
INSTALL_HINT = "install etcd to run these tests: apt-get install -y etcd-server"

_READY = b"ready to serve client requests"


class EtcdNotFound(RuntimeError):
    """No ``etcd`` binary on PATH."""


class EtcdFailedToStart(RuntimeError):
    """etcd exited or did not become ready in time; the message ends with its log."""


def etcd_binary() -> str | None:
    """The path of the ``etcd`` binary, or None when it is not installed."""
    return shutil.which("etcd")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EtcdServer:
    """One single-member etcd on loopback.

    ``data_parent`` is where the temporary data directory goes (default: the system temp dir; pass
    ``"/dev/shm"`` for a memory-backed one). ``quota_bytes`` raises etcd's 2 GiB default backend quota.
    """

    def __init__(
        self,
        *,
        data_parent: str | os.PathLike[str] | None = None,
        quota_bytes: int = 8 * 1024**3,
        start_timeout: float = 20.0,
    ) -> None:
        self._data_parent = data_parent
        self._quota_bytes = quota_bytes
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._data_dir: Path | None = None
        self._drain: threading.Thread | None = None
        self._log: list[bytes] = []
        self.port = 0

    @property
    def url(self) -> str:
        """The address `store.etcd.open_store` takes: ``etcd://127.0.0.1:PORT``."""
        return f"etcd://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def data_dir(self) -> Path | None:
        return self._data_dir

    def start(self) -> Self:
        """Start etcd and return once it serves clients; raise `EtcdNotFound` or `EtcdFailedToStart`."""
        binary = etcd_binary()
        if binary is None:
            raise EtcdNotFound(INSTALL_HINT)
        self._data_dir = Path(tempfile.mkdtemp(prefix="setpoint-etcd-", dir=self._data_parent))
        self.port = free_port()
        peer = f"http://127.0.0.1:{free_port()}"
        client = f"http://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [
                binary,
                "--name=setpoint",
                f"--data-dir={self._data_dir}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=setpoint={peer}",
                f"--quota-backend-bytes={self._quota_bytes}",
                "--max-request-bytes=33554432",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert self._process.stderr is not None
        try:
            self._wait_ready(self._process.stderr)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, stderr: IO[bytes]) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(stderr, selectors.EVENT_READ)
            buffer = b""
            while _READY not in buffer:
                if not selector.select(timeout=self._start_timeout):
                    raise EtcdFailedToStart(f"etcd not ready after {self._start_timeout} s:\n{self.log()}")
                chunk = os.read(stderr.fileno(), 65536)
                if not chunk:
                    raise EtcdFailedToStart(f"etcd exited while starting:\n{self.log()}")
                self._log.append(chunk)
                buffer = buffer[-len(_READY) :] + chunk
        # Keep reading its log, so a full pipe never blocks the server.
        self._drain = threading.Thread(target=self._read_log, args=(stderr,), daemon=True)
        self._drain.start()

    def _read_log(self, stderr: IO[bytes]) -> None:
        while chunk := os.read(stderr.fileno(), 65536):
            self._log.append(chunk)
            del self._log[:-64]

    def log(self) -> str:
        """The tail of etcd's log."""
        return b"".join(self._log[-64:]).decode(errors="replace")[-8000:]

    def stop(self) -> None:
        """Stop etcd by its pid (SIGTERM, then SIGKILL after 10 s) and remove its data directory."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait()
            drain, self._drain = self._drain, None
            if drain is not None:
                drain.join(timeout=5)
            if process.stderr is not None:
                process.stderr.close()
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
