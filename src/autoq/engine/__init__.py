"""Training and evaluation loops, devices, and torch.distributed plumbing."""
