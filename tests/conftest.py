"""Fixtures and helper modules shared by every test directory.

``reference_python``: the reference spead2 4.5.1 in a separate venv, used as a peer
process only (interoperability tests in ``tests/udp`` and ``tests/tools``).
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

TESTS = pathlib.Path(__file__).resolve().parent
REPO_ROOT = TESTS.parent
# --import-mode=importlib leaves test directories off sys.path: modules shared by
# several directories (pcap_support) live here.
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
REFERENCE_VENV = REPO_ROOT / "build" / "reference-venv"
REFERENCE_VERSION = "4.5.1"


def _reference_works(python: pathlib.Path) -> bool:
    if not python.exists():
        return False
    check = f"import spead2, spead2.send, spead2.recv, numpy; assert spead2.__version__ == {REFERENCE_VERSION!r}"
    try:
        return subprocess.run([str(python), "-c", check], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def reference_python() -> str:
    """The interpreter of a separate venv (``build/reference-venv``) with the reference
    spead2 installed from the package index; created on first use, reused afterwards.

    Skips when it cannot be created (e.g. no package index).  The project's own venv is
    never touched.
    """
    python = REFERENCE_VENV / "bin" / "python"
    if _reference_works(python):
        return str(python)
    shutil.rmtree(REFERENCE_VENV, ignore_errors=True)
    REFERENCE_VENV.parent.mkdir(parents=True, exist_ok=True)
    try:
        made = subprocess.run([sys.executable, "-m", "venv", str(REFERENCE_VENV)],
                              capture_output=True, text=True, timeout=120)
        if made.returncode != 0:
            pytest.skip(f"cannot create the reference venv: {made.stderr.strip()[-500:]}")
        pip = subprocess.run([str(python), "-m", "pip", "install", "-q", f"spead2=={REFERENCE_VERSION}", "numpy"],
                             capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as exc:
        pytest.skip(f"creating the reference venv timed out: {exc}")
    if pip.returncode != 0:
        pytest.skip(f"pip could not install spead2=={REFERENCE_VERSION}: {pip.stderr.strip()[-500:]}")
    if not _reference_works(python):
        pytest.skip("the reference venv was created but spead2 does not import in it")
    return str(python)
