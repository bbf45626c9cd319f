"""The dask executor tests share one real LocalCluster (two worker processes, one thread each)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # mypy names this folder's modules tests.engine.dask.*; pytest puts the folder on sys.path
    from tests.engine.dask.dask_steps import Cluster, shared_cluster
else:
    from dask_steps import Cluster, shared_cluster


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> Cluster:
    """The session's cluster with both its workers up and idle (an earlier test may have killed one)."""
    shared = shared_cluster(request.config)
    shared.make_ready()
    return shared
