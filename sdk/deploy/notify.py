"""sd_notify for `mmedge run` under systemd (`Type=notify`, `WatchdogSec=`), without libsystemd:
datagrams to the unix socket in $NOTIFY_SOCKET ('@' first: the abstract namespace), as
sd_notify(3) sends them. Outside systemd ($NOTIFY_SOCKET unset) every call does nothing.

ServiceNotifier: READY=1 when the pipeline delivers its first fused result (a unit that starts
but never produces stays "activating" until TimeoutStartSec fails it); WATCHDOG=1 every half of
$WATCHDOG_USEC while results keep arriving: a pipeline that produces nothing for a whole
watchdog period is stalled, the pings stop and systemd restarts it (Restart=on-failure);
STOPPING=1 on the way out.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Sends one sd_notify message ('READY=1', 'WATCHDOG=1\\nSTATUS=...'); False outside systemd
    or when the socket is gone."""
    address = (os.environ if env is None else env).get("NOTIFY_SOCKET")
    if not address:
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.sendto(message.encode(), target)
    except OSError:
        return False
    return True


class ServiceNotifier:
    """The pipeline service's side of systemd's watchdog (see the module docstring)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = dict(os.environ if env is None else env)
        usec = self.env.get("WATCHDOG_USEC", "")
        pid = self.env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 and mine else None
        self.enabled = bool(self.env.get("NOTIFY_SOCKET"))
        self.results = 0
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def result(self) -> None:
        """Called for every fused result: the first one makes the service READY."""
        self.results += 1
        self._last = time.monotonic()
        if self.results == 1 and self.enabled:
            notify("READY=1\nSTATUS=running: first result delivered", self.env)
            if self.watchdog_s is not None:
                self._thread = threading.Thread(target=self._ping, name="watchdog", daemon=True)
                self._thread.start()

    def _ping(self) -> None:
        assert self.watchdog_s is not None
        while not self._stop.wait(self.watchdog_s / 2):
            idle = time.monotonic() - self._last
            if idle < self.watchdog_s:
                notify(f"WATCHDOG=1\nSTATUS=running: {self.results} results", self.env)
            else:
                notify(f"STATUS=stalled: no result for {idle:.1f} s", self.env)

    def stopping(self) -> None:
        """The pipeline is shutting down."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.enabled:
            notify("STOPPING=1", self.env)
