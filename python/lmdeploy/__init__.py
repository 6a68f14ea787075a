"""lmdeploy (C++ / CPU re-implementation): TurboMind over a C++ engine.

    from lmdeploy import turbomind as tm       # lmdeploy v0.1's API (stream_infer)
    import lmdeploy; pipe = lmdeploy.pipeline(path); pipe(["hi", "hello"])

See docs/python.md.
"""

try:
    from . import _turbomind
except ImportError as e:  # the extension module is built by `pip install .` or CMake
    raise ImportError(
        "lmdeploy._turbomind (the C++ extension) is missing: install the package with "
        "`pip install .` from the repository root, or build it with "
        "`cmake -DLMDEPLOY_PYTHON=ON` and set PYTHONPATH=<build>/python") from e

from . import turbomind
from .api import Pipeline, pipeline
from .messages import GenerationConfig, Response, TurbomindEngineConfig

__version__ = _turbomind.__version__
__all__ = ["turbomind", "pipeline", "Pipeline", "GenerationConfig", "Response", "TurbomindEngineConfig"]
