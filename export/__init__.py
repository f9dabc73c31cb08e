"""Export to ONNX and TensorRT (a later issue)."""
