"""The exported graph's input and output names, without torch: the ONNX Runtime and TensorRT backends and
the export read them where only the runtime is installed (graph.py, which builds the graph, needs torch)."""

OUTPUTS = ("labels", "confidence", "logits")
INPUT_NAME = "image"
