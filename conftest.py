"""Test-session settings shared by tests/ and properties/."""

import os

import torch
from hypothesis import settings

# Tiny models on a 2-core CI machine run faster, and reproducibly, on one thread.
torch.set_num_threads(1)

# No per-example deadline: a loaded 2-core machine makes timing noise, not bugs. In CI
# (CI=true) examples are also derandomized, so a run never fails on a draw that the
# previous one did not make; locally every run explores new examples.
settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "default")
