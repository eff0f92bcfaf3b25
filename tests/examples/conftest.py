"""Fixtures for the tests of examples/ (shared helpers are in example_support.py)."""
import pytest

from example_support import Cluster


@pytest.fixture
def cluster_factory(tmp_path):
    made = []

    def make(*args, tmp=None, **kwargs):
        c = Cluster(tmp or tmp_path, *args, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop_all()
