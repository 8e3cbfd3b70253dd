"""pluto: an IKEv2 daemon in the mould of Libreswan's pluto, with plugins."""

__version__ = "0.1.0"

# The pluggy project name every hook spec and implementation marker is made for
# (pluto_core.hookspecs, pluto_core.kernel.hookspecs).
PLUGIN_PROJECT = "pluto"
