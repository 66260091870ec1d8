"""sd_notify as systemd receives it: a unix datagram socket the test binds stands in for
$NOTIFY_SOCKET. ServiceNotifier says READY=1 at the first result, WATCHDOG=1 every half period
while results come, stops pinging when they stop (so systemd would restart the service), and
STOPPING=1 at the end; `mmedge run` does the same on a real pipeline. Outside systemd nothing
is sent."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmedge.deploy.notify import ServiceNotifier, notify


@pytest.fixture
def systemd_socket(tmp_path: Path):
    path = tmp_path / "notify.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(0.05)
    yield path, s
    s.close()


def _received(s: socket.socket, seconds: float, until: str | None = None) -> list[str]:
    """The messages of the next `seconds` (or up to the first one starting with `until`)."""
    got, end = [], time.monotonic() + seconds
    while time.monotonic() < end and not (until and got and got[-1].startswith(until)):
        with contextlib.suppress(TimeoutError):  # nothing within the socket's 50 ms
            got.append(s.recv(4096).decode())
    return got


def test_ready_watchdog_stall_and_stopping(systemd_socket) -> None:
    path, s = systemd_socket
    service = ServiceNotifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "200000"})
    assert service.watchdog_s == pytest.approx(0.2)
    assert _received(s, 0.15) == []  # nothing before the first result
    service.result()
    first = _received(s, 0.05)
    assert first and first[0].startswith("READY=1")
    pings = []
    for _ in range(6):  # results every 50 ms for 0.3 s: pings every 0.1 s
        service.result()
        pings += _received(s, 0.05)
    assert sum(m.startswith("WATCHDOG=1") for m in pings) >= 2, pings
    stalled = _received(s, 0.45)  # no result for longer than the period: no more pings
    assert not [m for m in stalled[1:] if m.startswith("WATCHDOG=1")], stalled
    assert any(m.startswith("STATUS=stalled") for m in stalled), stalled
    service.stopping()
    assert "STOPPING=1" in _received(s, 0.1)


def test_outside_systemd_nothing_is_sent(tmp_path: Path) -> None:
    assert notify("READY=1", {}) is False
    assert notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}) is False
    service = ServiceNotifier({})
    service.result()
    service.stopping()
    assert service.results == 1 and not service.enabled


def test_abstract_socket_names(tmp_path: Path) -> None:
    name = f"mmedge-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        s.settimeout(1.0)
        assert notify("READY=1", {"NOTIFY_SOCKET": "@" + name})
        assert s.recv(64) == b"READY=1"


def test_mmedge_run_tells_systemd(systemd_socket, tmp_path: Path) -> None:
    path, s = systemd_socket
    config = tmp_path / "pipe.toml"
    config.write_text(
        '[[modality]]\nname = "image"\nbundle = "builtin:scene_image"\n'
        'source = { type = "synthetic_video", seconds = 2.0, seed = 1, realtime = true }\n'
        '[fusion]\nmethod = "max"\nrate_hz = 5.0\n'
    )
    env = {**os.environ, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"}
    run = subprocess.Popen([sys.executable, "-m", "mmedge.cli", "run", str(config), "--json"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        got = _received(s, 30.0, until="STOPPING")
        run.wait(timeout=30)
    finally:
        run.kill()
    got += _received(s, 0.2)
    assert run.returncode == 0, run.stderr.read().decode() if run.stderr else ""
    kinds = [m.split("=")[0] for m in got]
    assert kinds[0] == "READY" and kinds[-1] == "STOPPING", got
    assert kinds.count("WATCHDOG") >= 2, got
