"""What the bundle must not carry, shared by the PyInstaller spec, the build's checks and the tests.

BrainLens runs on ONNX Runtime, NumPy, OpenCV, pydicom, nibabel, Pillow, reportlab and Qt Widgets. The
training stack (TensorFlow, Keras, tf2onnx, the ``onnx`` package) and the test/plot libraries
must never reach the bundle, nor the parts of Qt the app does not use (QML/Quick, WebEngine, 3D,
Multimedia, Designer, ...). ONNX Runtime's CUDA provider library stays (the GPU is used when the
machine has CUDA and cuDNN) but the CUDA toolkit itself is never bundled.
"""

from __future__ import annotations

import re

# Python packages kept out of the analysis altogether.
EXCLUDED_MODULES = (
    "tensorflow", "tensorboard", "keras", "tf_keras", "tf2onnx", "onnx", "onnxconverter_common",
    "matplotlib", "sklearn", "scipy", "pandas", "nilearn", "h5py", "imagehash", "pywt",
    "torch", "jax", "IPython", "jupyter", "notebook", "tkinter", "_tkinter", "PyQt5", "PyQt6", "PySide2",
    "pytest", "_pytest", "hypothesis", "pytestqt", "setuptools", "pkg_resources", "pip", "wheel",
    "PyInstaller", "grpc", "absl", "google.protobuf", "sympy",
    "readline", "curses", "_curses",  # GNU readline is GPL-3.0 and a GUI app has no use for it
    "onnxruntime.tools", "onnxruntime.transformers", "onnxruntime.quantization", "onnxruntime.training",
    "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuickWidgets", "PySide6.QtQuickControls2",
    "PySide6.QtQuickTest", "PySide6.QtQmlFeatures", "PySide6.QtLabsStyleKit",
    "PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets", "PySide6.QtWebEngineQuick",
    "PySide6.QtWebChannel", "PySide6.QtWebSockets", "PySide6.Qt3DCore", "PySide6.QtMultimedia",
    "PySide6.QtCharts", "PySide6.QtDataVisualization", "PySide6.QtDesigner", "PySide6.QtHelp",
    "PySide6.QtUiTools", "PySide6.QtSql", "PySide6.QtTest", "PySide6.QtConcurrent", "PySide6.QtXml",
    "PySide6.QtNetwork", "PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets",
    "training", "export", "tests", "benchmarks", "installer",
    # the Ray engine (`brainlens classify --engine ray`) is for Python installs with the `cluster` extra; the
    # bundle's CLI says how to get it. pyarrow also carries TensorFlow adapter headers.
    "ray", "pyarrow",
)

# Files dropped from the collected binaries/data (matched against the destination path, "/"-separated).
DROPPED_FILES = tuple(
    re.compile(pattern)
    for pattern in (
        r"(^|/)(lib)?Qt6(Qml|Quick|Labs|Lottie|Designer|Help|Sql|Test|Pdf|VirtualKeyboard|WebEngine|3D|Multimedia"
        r"|Charts|DataVisualization|EglF[sS]|WaylandCompositor|WaylandEglCompositor|WlShellIntegration"
        r"|ShaderTools|SpatialAudio|Positioning|Location|Sensors|Bluetooth|Nfc|SerialPort|RemoteObjects"
        r"|Scxml|StateMachine|TextToSpeech|Graphs|HttpServer|Protobuf|Grpc|UiTools)[^/]*$",  # Linux .so, Windows .dll
        r"PySide6/Qt/lib/Qt(Qml|Quick|Labs|Designer|Pdf|VirtualKeyboard|WebEngine|3D|Multimedia)\w*\.framework/",  # macOS
        r"PySide6/Qt/plugins/(qmltooling|designer|sqldrivers|egldeviceintegrations"
        r"|wayland-graphics-integration-server|networkinformation|tls|vectorimageformats)/",
        r"PySide6/Qt/plugins/platforms/libq(eglfs|minimalegl|linuxfb|vnc|vkkhrdisplay)\.so$",
        r"PySide6/Qt/plugins/platformthemes/libqgtk3\.so$",  # would make the package depend on GTK 3
        r"PySide6/Qt/plugins/wayland-shell-integration/libwl-shell-plugin\.so$",  # obsolete wl_shell
        r"PySide6/Qt/plugins/imageformats/libqpdf\.so$",
        r"PySide6/Qt/(translations|qml|resources/qtwebengine)",
        r"(^|/)libonnxruntime_providers_tensorrt\.(so|dll)$",  # needs TensorRT, which nobody installs
        r"(^|/)(libcu|libcudnn|libnv|libnccl|cudart|cublas|cudnn|nvinfer)[^/]*\.(so[.0-9]*|dll)$",  # CUDA toolkit
    )
)

# Top-level names that must not appear anywhere in the bundle (files) or its module archive.
FORBIDDEN_MODULE_PREFIXES = (
    "tensorflow", "keras", "tf2onnx", "onnx.", "matplotlib", "sklearn", "scipy", "pandas", "nilearn",
    "h5py", "torch", "pytest", "hypothesis", "training.", "export.", "tests.",
    "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtWebEngine", "PySide6.Qt3D", "PySide6.QtMultimedia",
)
FORBIDDEN_FILE_PATTERNS = tuple(
    re.compile(pattern)
    for pattern in (
        r"(^|/)(tensorflow|keras|tf2onnx|onnx|matplotlib|sklearn|scipy|pandas|nilearn|h5py)(/|$)",
        r"(^|/)libtensorflow",
        r"(^|/)libQt6(Qml|Quick|WebEngine|3D|Multimedia|Designer)",
        r"(^|/)Qt(Qml|Quick|WebEngine\w*|3D\w*|Multimedia)\.(abi3\.so|pyd)$",
        r"(^|/)(libcudart|libcublas|libcudnn|libcufft|libcurand)[^/]*$",
        r"(^|/)libonnxruntime_providers_tensorrt",
    )
)


def is_dropped(destination: str) -> bool:
    path = destination.replace("\\", "/")
    return any(pattern.search(path) for pattern in DROPPED_FILES)


def is_forbidden_file(relative_path: str) -> bool:
    path = relative_path.replace("\\", "/")
    return any(pattern.search(path) for pattern in FORBIDDEN_FILE_PATTERNS)


def is_forbidden_module(name: str) -> bool:
    return any(name == prefix.rstrip(".") or name.startswith(prefix.rstrip(".") + ".") for prefix in FORBIDDEN_MODULE_PREFIXES)


SYSTEM_LIBRARY_ROOTS = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/")


def is_system_library(source: str) -> bool:
    """A shared library taken from the operating system rather than from a wheel or the interpreter."""
    return source.replace("\\", "/").startswith(SYSTEM_LIBRARY_ROOTS) and "/libpython" not in source


def prune_unreachable_system_libraries(entries, needed_of):
    """Drops system libraries that only dropped files needed (e.g. GTK 3 for the GTK theme plugin).

    ``entries`` are PyInstaller TOC tuples (destination, source, typecode); ``needed_of(source)``
    lists the sonames a file links against. Wheel libraries, extension modules and plugins are kept;
    a system library stays only when something kept needs it, directly or through other libraries.
    """
    by_name = {}
    for entry in entries:
        by_name.setdefault(entry[0].replace("\\", "/").rsplit("/", 1)[-1], entry)
    kept = [entry for entry in entries if not is_system_library(entry[1])]
    reachable = {id(entry) for entry in kept}
    pending = list(kept)
    while pending:
        entry = pending.pop()
        for soname in needed_of(entry[1]):
            dependency = by_name.get(soname)
            if dependency is not None and id(dependency) not in reachable:
                reachable.add(id(dependency))
                pending.append(dependency)
    return [entry for entry in entries if id(entry) in reachable]
