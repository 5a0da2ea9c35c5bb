"""Test-session settings shared by tests/ and properties/."""

import torch

# Tiny models on a 2-core CI machine run faster, and reproducibly, on one thread.
torch.set_num_threads(1)
