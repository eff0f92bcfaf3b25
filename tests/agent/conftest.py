"""Fixtures shared by the multi-process agent tests."""
import pytest

from cluster import Cluster


@pytest.fixture
def cluster_factory(tmp_path):
    made = []

    def make(*args, **kwargs):
        c = Cluster(tmp_path, *args, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop_all()
