"""Command-line entry points: ``ipsec`` and ``pluto``."""
