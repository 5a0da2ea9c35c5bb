"""Data-parallel runs under torchrun: the ranks' collective and the DDP view of a growing model (docs/scale.md)."""
