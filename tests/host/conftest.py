from tests.netns import netns_pair  # noqa: F401  (fixture)
