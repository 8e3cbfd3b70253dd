"""A third-party pluto plugin used by the test suite."""
