"""BrainLens core: scans, the classifier, reports. Pure Python: no Qt, no TensorFlow.

ONNX Runtime 1.29+ ships usage telemetry on Linux and macOS that writes a device identifier under
~/.cache/Microsoft and uploads events (including the process's command line, which may hold scan
paths) to Microsoft. BrainLens never opens a network connection (tests/test_no_network.py), so it
is switched off here, before any BrainLens module imports onnxruntime: the switch is read once,
when onnxruntime is imported.
"""

import os

os.environ["ORT_DISABLE_TELEMETRY"] = "1"
