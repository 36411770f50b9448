"""ONNX export of whole planning steps, and the numpy + onnxruntime runtime that runs them."""
