"""Plugins shipped with pluto (import name ``pluto_plugins``)."""
