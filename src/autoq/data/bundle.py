"""The result of loading a data set."""

from __future__ import annotations

from dataclasses import dataclass

from torch.utils.data import Dataset


@dataclass
class DatasetBundle:
    """A data set's training and test parts, each yielding ``(image CxHxW float tensor, label int)``.

    A data set with a fixed held-out part (``cifar10-jpeg``) has it as ``holdout``: the search takes
    its reward images from there instead of from ``train``.

    Small data sets are in-memory ``TensorDataset``s (``.tensors`` = images, labels), already
    preprocessed; folder data sets (ImageNet) decode and preprocess per image.
    """

    name: str
    train: Dataset
    test: Dataset
    num_classes: int
    input_shape: tuple[int, int, int]
    description: str = ""
    holdout: Dataset | None = None  # images no model was trained on: the reward's, when the data set has them
