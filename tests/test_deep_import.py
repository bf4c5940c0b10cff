"""shiftlab works without torch; shiftlab.deep then says how to install it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_shiftlab_imports_without_torch_and_deep_says_how_to_install():
    """Runs in a subprocess where importing torch fails, so it needs no torch itself."""
    code = (
        "import sys\n"
        "class BlockTorch:  # a finder that makes every 'import torch' fail\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError(\"No module named 'torch'\")\n"
        "sys.meta_path.insert(0, BlockTorch())\n"
        "import shiftlab, shiftlab.data, shiftlab.methods\n"
        "try:\n"
        "    import shiftlab.deep\n"
        "except ImportError as exc:\n"
        "    print('MSG', exc)\n"
        "else:\n"
        "    print('NO ERROR')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "MSG" in out.stdout
    assert "pip install 'shiftlab[deep]'" in out.stdout and "torch==2.13.0" in out.stdout
