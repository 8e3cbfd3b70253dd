"""KAME PF_KEY v2 kernel backend (import name ``pluto_bsdkame``; ``--use-bsdkame``)."""
