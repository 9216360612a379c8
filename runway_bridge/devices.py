"""Device names (auto, cpu, cuda, coreml, directml) to ONNX Runtime execution providers.

A device that this onnxruntime build lacks falls back to the CPU with a message saying what to
install, never an error: a show must go on. Whether a session really runs on a GPU is only known
after it is created (a CUDA provider without a driver silently drops to CPU), so the truth for the
manifest's ``GPU`` flag comes from `session_uses_gpu`, not from what was asked.
"""

from __future__ import annotations

from .errors import BadInput

__all__ = ["DEVICES", "providers_for", "session_uses_gpu"]

DEVICES = ("auto", "cpu", "cuda", "coreml", "directml")
CPU = "CPUExecutionProvider"
_PROVIDER = {"cuda": "CUDAExecutionProvider", "coreml": "CoreMLExecutionProvider", "directml": "DmlExecutionProvider"}
_INSTALL = {"cuda": "onnxruntime-gpu (and a CUDA driver)", "coreml": "onnxruntime on macOS",
            "directml": "onnxruntime-directml on Windows"}


def providers_for(device: str = "auto", available: list[str] | None = None) -> tuple[list[str], bool, str]:
    """The providers for `device`, whether they include a GPU one, and a line for the user."""
    device = (device or "auto").lower()
    if device not in DEVICES:
        raise BadInput(f"device must be one of {', '.join(DEVICES)}, not {device!r}", field="device")
    if available is None:
        import onnxruntime

        available = onnxruntime.get_available_providers()
    if device == "cpu":
        return [CPU], False, "running on the CPU"
    if device == "auto":
        gpus = [p for p in _PROVIDER.values() if p in available]
        if gpus:
            return [*gpus, CPU], True, f"device auto: trying {', '.join(gpus)}, then the CPU"
        return [CPU], False, "device auto: no GPU provider in this onnxruntime; running on the CPU"
    want = _PROVIDER[device]
    if want in available:
        return [want, CPU], True, f"running on {device} ({want})"
    return [CPU], False, (f"device {device} asked for, but this onnxruntime has no {want} (it has "
                          f"{', '.join(available)}); running on the CPU. Install {_INSTALL[device]} for {device}.")


def session_uses_gpu(session) -> bool:
    """Whether an `onnxruntime.InferenceSession` really runs on something other than the CPU."""
    return session.get_providers()[0] != CPU
