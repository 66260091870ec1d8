"""The systemd units of a deployment, rendered for an install prefix (default /opt/mmedge):

mmedge-engines.service  oneshot, at boot before any pipeline: `mmedge build-engine --if-stale`
                        for each bundle (a missing or stale engine is built on the device, its
                        timing cache kept in the bundle; a current one is left alone); progress
                        goes to the journal.
mmedge@.service         one pipeline per instance (mmedge@NAME runs pipelines/NAME.toml):
                        Type=notify (READY at the first fused result), WatchdogSec (pings while
                        results keep coming), Restart=on-failure; requires the engine unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

WATCHDOG_S = 30  # a pipeline that delivers nothing for this long is restarted
ENGINE_TIMEOUT_S = 3600  # engine builds on an Orin Nano take minutes per network


def engines_unit(prefix: PurePosixPath, engines: Mapping[str, str]) -> str:
    """mmedge-engines.service: builds each bundle's engine (bundle file name under
    prefix/bundles -> precision) when it is missing or stale."""
    mmedge = prefix / "venv" / "bin" / "mmedge"
    steps = "\n".join(
        f"ExecStart={mmedge} -v build-engine {prefix / 'bundles' / b} --precision {p} --if-stale"
        for b, p in sorted(engines.items())
    )
    return f"""[Unit]
Description=mmedge: build missing or stale TensorRT engines of the deployed bundles
Documentation=file://{prefix}/README.md
After=local-fs.target
Before=multi-user.target

[Service]
Type=oneshot
RemainAfterExit=yes
User=mmedge
Group=mmedge
Environment=PYTHONUNBUFFERED=1
WorkingDirectory={prefix}
{steps}
TimeoutStartSec={ENGINE_TIMEOUT_S}
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=multi-user.target
"""


def pipeline_unit(prefix: PurePosixPath) -> str:
    """mmedge@.service: runs prefix/pipelines/%i.toml."""
    return f"""[Unit]
Description=mmedge pipeline %i
Documentation=file://{prefix}/README.md
Requires=mmedge-engines.service
After=mmedge-engines.service network-online.target
Wants=network-online.target
StartLimitIntervalSec=300
StartLimitBurst=5

[Service]
Type=notify
NotifyAccess=main
User=mmedge
Group=mmedge
SupplementaryGroups=video audio
Environment=PYTHONUNBUFFERED=1
WorkingDirectory={prefix}
ExecStart={prefix / "venv" / "bin" / "mmedge"} run {prefix / "pipelines"}/%i.toml --json
TimeoutStartSec=300
WatchdogSec={WATCHDOG_S}
Restart=on-failure
RestartSec=5
SuccessExitStatus=143
TimeoutStopSec=30

[Install]
WantedBy=multi-user.target
"""
