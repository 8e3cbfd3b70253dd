"""A plugin module that cannot be imported."""

raise ImportError("testplugin-broken is broken on purpose")
