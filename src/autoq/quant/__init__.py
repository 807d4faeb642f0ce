"""Quantization core: layer discovery, kernel-wise fake quantization, bit-width policies."""
