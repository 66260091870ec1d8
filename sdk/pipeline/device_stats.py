"""The device's own load while a pipeline runs, for Pipeline.stats()['device']: on a Jetson
through jtop (jetson-stats, `pip install jetson-stats` and its jtop service), which reads the
board's load, power rails and thermal zones; elsewhere, or without jtop, the entry says why
there is nothing.

    {"available": True, "source": "jtop", "gpu_load_pct": 37.0, "cpu_load_pct": 21.5,
     "power_mw": 7412, "temperatures_c": {"cpu": 48.2, "gpu": 47.1}, "ram_used_fraction": 0.41,
     "power_mode": "MAXN"}
"""

from __future__ import annotations

import importlib
from typing import Any


class DeviceStats:
    """jtop's latest sample while the pipeline runs (its client samples in the background)."""

    def __init__(self) -> None:
        self._jtop: Any = None
        self.why = "not started"

    def start(self) -> None:
        try:
            module = importlib.import_module("jtop")
        except ImportError:
            self.why = "jtop (jetson-stats) is not installed: no device load, power or temperatures"
            return
        try:
            self._jtop = module.jtop()
            self._jtop.start()
        except Exception as exc:  # jtop raises its own JtopException when its service is down
            self._jtop = None
            self.why = f"jtop could not connect to its service: {type(exc).__name__}: {exc}"

    def snapshot(self) -> dict[str, Any]:
        if self._jtop is None:
            return {"available": False, "why": self.why}
        s = dict(self._jtop.stats)
        cpus = [v for k, v in s.items() if k.startswith("CPU") and isinstance(v, (int, float))]
        return {
            "available": True,
            "source": "jtop",
            "gpu_load_pct": s.get("GPU"),
            "cpu_load_pct": sum(cpus) / len(cpus) if cpus else None,
            "power_mw": s.get("Power TOT"),
            "temperatures_c": {
                k[5:].lower(): v
                for k, v in s.items()
                if k.startswith("Temp ") and isinstance(v, (int, float))
            },
            "ram_used_fraction": s.get("RAM"),
            "power_mode": s.get("nvp model"),
        }

    def stop(self) -> None:
        if self._jtop is not None:
            self._jtop.close()
            self._jtop = None
            self.why = "stopped"
