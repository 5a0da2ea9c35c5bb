"""Test-session settings shared by tests/ and properties/."""

import os
from collections.abc import Iterator

import pytest
import torch
from hypothesis import settings

from esper_shell.outcome.cache import CACHE_ENV

# Tiny models on a 2-core CI machine run faster, and reproducibly, on one thread.
torch.set_num_threads(1)

# No per-example deadline: a loaded 2-core machine makes timing noise, not bugs. In CI
# (CI=true) examples are also derandomized, so a run never fails on a draw that the
# previous one did not make; locally every run explores new examples.
settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "default")


@pytest.fixture(autouse=True, scope="session")
def _static_runs_cached_in_a_temporary_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """PPO's default reward trains and caches paired static runs: tests keep them out of the user's cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("esper-cache")))
    yield
    patch.undo()
