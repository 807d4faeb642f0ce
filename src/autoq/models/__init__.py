"""Models: a registry of torchvision, CIFAR ResNet and small CNN models, user models, weight loading."""

from autoq.models.default import default_model, default_weights_path
from autoq.models.registry import ModelSpec, create_model, example_input, list_models, model_spec
from autoq.models.weights import load_weights, read_state_dict

__all__ = [
    "ModelSpec",
    "create_model",
    "default_model",
    "default_weights_path",
    "example_input",
    "list_models",
    "load_weights",
    "model_spec",
    "read_state_dict",
]
