"""Export a calibrated quantized model for deployment: packed (safetensors), ONNX (QDQ) and QONNX.

One module per format (``packed``, ``onnx``, ``qonnx``); all start from the deployed model of
:func:`freeze` (integer codes, per-kernel scales, batch norm folded). ``verify`` checks an export
against PyTorch, ``sizes`` counts bytes. ONNX, ONNX Runtime and qonnx are imported only when used.
"""

from autoq.export.deployed import DeployedConv2d, DeployedLayer, DeployedLinear, deployed_layers, freeze
from autoq.export.exporter import FORMATS, ExportResult, export_model
from autoq.export.onnx import export_onnx, run_onnxruntime, to_onnx
from autoq.export.packed import PackedModel, load_packed, read_packed, save_packed
from autoq.export.qonnx import export_qonnx, run_qonnx, to_qonnx
from autoq.export.sizes import ModelSizes, model_sizes
from autoq.export.verify import Agreement, check_onnx, check_packed, check_qonnx

__all__ = [
    "FORMATS",
    "Agreement",
    "DeployedConv2d",
    "DeployedLayer",
    "DeployedLinear",
    "ExportResult",
    "ModelSizes",
    "PackedModel",
    "check_onnx",
    "check_packed",
    "check_qonnx",
    "deployed_layers",
    "export_model",
    "export_onnx",
    "export_qonnx",
    "freeze",
    "load_packed",
    "model_sizes",
    "read_packed",
    "run_onnxruntime",
    "run_qonnx",
    "save_packed",
    "to_onnx",
    "to_qonnx",
]
