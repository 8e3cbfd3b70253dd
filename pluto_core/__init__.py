"""pluto: an IKEv2 daemon in the mould of Libreswan's pluto, with plugins."""

__version__ = "0.1.0"
