"""Run a docs page's first Python example and check it prints what the page says.

The page's ``# `` comment lines in that block are the expected output, in order.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def check_page_example(page: str, tmp_path: Path, timeout: float = 60) -> None:
    text = (ROOT / "docs" / page).read_text()
    block = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    expected = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    script = tmp_path / "example.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=timeout, check=False, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == expected
