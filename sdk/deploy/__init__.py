"""Putting a pipeline on a device as a service: `mmedge deploy jetson` writes a deploy directory
(requirements lock per JetPack, the bundles, systemd units that build the TensorRT engines on the
device and then run the pipeline with a watchdog, an install script and a README for the
device); `notify` is the sd_notify side of the pipeline service (READY, WATCHDOG, STOPPING)."""
