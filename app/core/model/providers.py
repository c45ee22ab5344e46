"""Which ONNX Runtime execution providers to ask for, decided *before* asking.

onnxruntime-gpu lists CUDA and TensorRT as "available" on every machine, then prints a red
error when their libraries fail to load. So GPU providers are only requested after checking,
quietly, that they can work: a CUDA driver with at least one device, and the provider library
with its CUDA/cuDNN dependencies loadable. DirectML and Core ML are only listed by the builds
that ship them, so "available" is trusted for those.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CPU = "CPUExecutionProvider"
GPU_PREFERENCE = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "DmlExecutionProvider",
    "CoreMLExecutionProvider",
)
DEVICE_WORDS = {
    "TensorrtExecutionProvider": "GPU (TensorRT)",
    "CUDAExecutionProvider": "GPU (CUDA)",
    "DmlExecutionProvider": "GPU (DirectML)",
    "CoreMLExecutionProvider": "Apple GPU/Neural Engine (Core ML)",
    CPU: "CPU",
}
DEVICES = ("auto", "cpu", "gpu")


@dataclass(frozen=True)
class ProviderChoice:
    providers: list[str]
    note: str | None = None  # a user-facing sentence when the GPU was asked for but cannot be used


def device_words(provider: str) -> str:
    return DEVICE_WORDS.get(provider, provider.removesuffix("ExecutionProvider"))


@lru_cache(maxsize=1)
def cuda_device_count() -> int:
    """Number of CUDA devices the driver reports; 0 without a driver (no error printed)."""
    name = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        cuda = ctypes.CDLL(name)
        if cuda.cuInit(0) != 0:
            return 0
        count = ctypes.c_int(0)
        if cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return int(count.value)
    except (OSError, AttributeError):
        return 0


def _provider_library(provider: str) -> Path | None:
    import onnxruntime as ort

    stem = {"CUDAExecutionProvider": "cuda", "TensorrtExecutionProvider": "tensorrt"}[provider]
    capi = Path(ort.__file__).parent / "capi"
    name = f"onnxruntime_providers_{stem}.dll" if sys.platform == "win32" else f"libonnxruntime_providers_{stem}.so"
    path = capi / name
    return path if path.exists() else None


@lru_cache(maxsize=2)
def nvidia_provider_loadable(provider: str) -> bool:
    """True when ONNX Runtime's CUDA/TensorRT provider library and its dependencies load."""
    import onnxruntime as ort

    if cuda_device_count() == 0:
        return False
    library = _provider_library(provider)
    if library is None:
        return False
    if hasattr(ort, "preload_dlls"):  # finds CUDA/cuDNN installed as nvidia-* pip packages
        try:
            ort.preload_dlls(cuda=True, cudnn=True, msvc=sys.platform == "win32")
        except Exception:  # noqa: BLE001 - best effort; the load below decides
            pass
    try:
        ctypes.CDLL(str(library))
    except OSError:
        return False
    return True


def usable_gpu_providers(available: list[str]) -> list[str]:
    usable = []
    for provider in GPU_PREFERENCE:
        if provider not in available:
            continue
        if provider in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
            if not nvidia_provider_loadable(provider):
                continue
        usable.append(provider)
    return usable


def choose_providers(device: str = "auto", available: list[str] | None = None) -> ProviderChoice:
    """Providers to request for ``device`` ("auto", "cpu" or "gpu"), best first, CPU last."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, not {device!r}")
    if device == "cpu":
        return ProviderChoice([CPU])
    if available is None:
        import onnxruntime as ort

        available = list(ort.get_available_providers())
    gpus = usable_gpu_providers(available)
    if gpus:
        return ProviderChoice([*gpus, CPU])
    note = None
    if device == "gpu":
        note = "No usable GPU was found (no GPU driver or GPU runtime libraries); running on the CPU."
    return ProviderChoice([CPU], note)


def cache_dir() -> Path:
    """Per-user cache folder (TensorRT engines are built once per model and kept here)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "BrainLens" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "BrainLens"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "brainlens"


def with_options(providers: list[str]) -> list[str | tuple[str, dict[str, str]]]:
    """Providers as InferenceSession takes them, with options where the defaults are poor:
    TensorRT caches its engines (building them takes minutes) instead of rebuilding every start."""
    out: list[str | tuple[str, dict[str, str]]] = []
    for name in providers:
        if name == "TensorrtExecutionProvider":
            engines = cache_dir() / "tensorrt"
            out.append((name, {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(engines),
                               "trt_timing_cache_enable": "True", "trt_timing_cache_path": str(engines)}))
        else:
            out.append(name)
    return out


def physical_cores() -> int:
    """Physical cores this process may use (hyper-threads share a core's FMA units)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:
        allowed = list(range(os.cpu_count() or 1))
    cores = set()
    for cpu in allowed:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:  # not Linux: count logical CPUs (ONNX Runtime's own default)
            return max(1, len(allowed))
        cores.add((package, core))
    return max(1, len(cores))
