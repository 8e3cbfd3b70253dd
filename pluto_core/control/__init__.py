"""The control socket ``<rundir>/pluto.ctl``: JSON lines (see docs/control.md)."""

PROTOCOL_VERSION = 1
MAX_REQUEST_BYTES = 64 * 1024
