"""Authentication sources: the hook specs third parties implement
(:mod:`pluto_core.auth.hookspecs`) and the chain that asks them in the configured
order (:mod:`pluto_core.auth.chain`), which is the engine's credentials port in the
daemon."""
