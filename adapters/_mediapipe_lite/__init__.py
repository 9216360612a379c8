"""MediaPipe's face, hand, pose and segmentation models on LiteRT, for when mediapipe cannot install.

``mediapipe==0.10.21`` is the last wheel that bundles its models, and it needs Python <= 3.12 and
numpy < 2. Its ``.tflite`` files run anywhere ``ai-edge-litert`` does; this package redoes the
pre- and post-processing that MediaPipe's graphs do around them (docs/mediapipe-lite.md), so the
adapters give the same results with either runtime. It never imports mediapipe.

Adapters import it by path (``adapters/`` is not a package), with ``lite(name)`` in their model.py.
"""
