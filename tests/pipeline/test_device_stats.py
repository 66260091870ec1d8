"""Pipeline.stats()['device']: without jtop (jetson-stats) the entry says so; with it, the
board's GPU and CPU load, power and temperatures from jtop's stats, mapped from the keys
jetson-stats 4 publishes ('GPU', 'CPU1'.., 'Power TOT' in mW, 'Temp CPU', 'RAM', 'nvp model');
the client is started with the pipeline and closed when it stops."""

from __future__ import annotations

import sys
import types

import mmedge


def _pipeline() -> mmedge.Pipeline:
    scene = mmedge.sources.SyntheticScene(0.5, seed=1)
    pipe = mmedge.Pipeline()
    pipe.add("image", scene.video, mmedge.builtin_bundle("scene_image"))
    return pipe


def test_without_jtop_the_stats_say_so(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "jtop", None)  # import jtop -> ImportError
    pipe = _pipeline()
    pipe.run()
    device = pipe.stats()["device"]
    assert device["available"] is False
    assert "jtop (jetson-stats) is not installed" in device["why"]


def test_with_jtop_its_sample_is_in_the_stats(monkeypatch) -> None:
    events = []

    class FakeJtop:  # the client API of jetson-stats 4: start(), stats, close()
        def start(self) -> None:
            events.append("start")

        @property
        def stats(self) -> dict:
            return {"time": None, "uptime": None, "CPU1": 20, "CPU2": 30, "CPU3": "OFF",
                    "RAM": 0.41, "SWAP": 0.0, "EMC": 12, "GPU": 37.0, "APE": "OFF",
                    "Temp CPU": 48.2, "Temp GPU": 47.1, "Temp tj": 49.0,
                    "Power VDD_CPU_GPU_CV": 2411, "Power TOT": 7412, "jetson_clocks": "OFF",
                    "nvp model": "MAXN"}  # fmt: skip

        def close(self) -> None:
            events.append("close")

    monkeypatch.setitem(sys.modules, "jtop", types.SimpleNamespace(jtop=FakeJtop))
    pipe = _pipeline()
    pipe.start()
    device = pipe.stats()["device"]
    pipe.stop()
    assert device == {
        "available": True, "source": "jtop", "gpu_load_pct": 37.0, "cpu_load_pct": 25.0,
        "power_mw": 7412, "temperatures_c": {"cpu": 48.2, "gpu": 47.1, "tj": 49.0},
        "ram_used_fraction": 0.41, "power_mode": "MAXN",
    }  # fmt: skip
    assert events == ["start", "close"]
    assert pipe.stats()["device"] == {"available": False, "why": "stopped"}
