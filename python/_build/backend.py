"""The package's build backend: scikit-build-core, plus one step for an sdist.

The native module is built from the C++ SDK's sources, which live one directory up in a checkout
(sdk/, common/, cmake/, the root CMakeLists.txt). An sdist must build on its own, so build_sdist
copies those sources into cpp/ for the archive and removes the copy afterwards; CMakeLists.txt
uses cpp/ when it is there (an unpacked sdist) and the checkout otherwise.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from scikit_build_core import build as _skbuild
from scikit_build_core.build import *  # noqa: F401,F403  (every other PEP 517 hook, unchanged)

_HERE = Path(__file__).resolve().parent.parent
_ROOT = _HERE.parent
_COPIED = ("CMakeLists.txt", "cmake", "common", "sdk")


def _copy_sources(dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir()
    ignore = shutil.ignore_patterns("*_test.cpp", "*_fuzz.cpp", "fake_transport.hpp", "__pycache__")
    for name in _COPIED:
        src = _ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dest / name)


def build_sdist(sdist_directory, config_settings=None):
    cpp = _HERE / "cpp"
    if not (_ROOT / "sdk" / "CMakeLists.txt").exists():  # already an unpacked sdist
        return _skbuild.build_sdist(sdist_directory, config_settings)
    _copy_sources(cpp)
    try:
        return _skbuild.build_sdist(sdist_directory, config_settings)
    finally:
        shutil.rmtree(cpp, ignore_errors=True)
