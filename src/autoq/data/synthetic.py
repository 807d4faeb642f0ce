"""Synthetic images of any shape with learnable labels, for smoke runs without real data."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from autoq.data.bundle import DatasetBundle
from autoq.errors import AutoQError


class SyntheticDataset(Dataset):
    """Image ``i`` = its class's smooth prototype pattern + Gaussian noise, generated on demand.

    Everything derives from ``(seed, part, i)``, so any image can be produced without storing the set
    (an ImageNet-sized set would not fit in memory) and the same seed gives the same data.
    """

    def __init__(
        self, size: int, input_shape: tuple[int, int, int], num_classes: int, seed: int, part: int, noise: float = 1.0
    ) -> None:
        self.size, self.input_shape, self.num_classes = size, tuple(input_shape), num_classes
        self.seed, self.part, self.noise = seed, part, noise
        g = torch.Generator().manual_seed(seed)
        # Class prototypes at 4x4, upsampled per image: low-frequency patterns that a CNN can tell apart.
        self.prototypes = torch.randn(num_classes, input_shape[0], 4, 4, generator=g)

    def __len__(self) -> int:
        return self.size

    def _generator(self, index: int) -> torch.Generator:
        state = np.random.SeedSequence([self.seed, self.part, index]).generate_state(2, np.uint32)
        return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.size:
            raise IndexError(index)
        g = self._generator(index)
        y = int(torch.randint(self.num_classes, (1,), generator=g))
        c, h, w = self.input_shape
        pattern = F.interpolate(self.prototypes[y : y + 1], size=(h, w), mode="bilinear", align_corners=False)[0]
        return pattern + self.noise * torch.randn(c, h, w, generator=g), y


def load_synthetic(
    data_dir, download: bool, input_shape, num_classes, size: int = 1536, test_size: int = 512, seed: int = 0, noise: float = 1.0
) -> DatasetBundle:
    """``size`` training and ``test_size`` test images of ``input_shape`` (default 3x224x224), ``num_classes``
    (default 1000) classes; the default size leaves room for the default calibration and reward splits."""
    shape = tuple(int(v) for v in (input_shape or (3, 224, 224)))
    classes = int(num_classes or 1000)
    if len(shape) != 3 or min(shape) <= 0 or classes < 1 or size < 1 or test_size < 1:
        raise AutoQError(
            f"synthetic data needs a C,H,W shape, at least one class and one image, got {shape}, "
            f"{classes} classes, {size}/{test_size} images"
        )
    train = SyntheticDataset(size, shape, classes, seed, 0, noise)
    test = SyntheticDataset(test_size, shape, classes, seed, 1, noise)
    return DatasetBundle(
        "synthetic",
        train,
        test,
        classes,
        shape,  # type: ignore[arg-type]
        f"synthetic {'x'.join(map(str, shape))}, {classes} classes, seed {seed}",
    )
