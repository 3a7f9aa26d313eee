"""docs/agents.md's example runs and prints what the page says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_agents_page_example(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "agents.md").read_text()
    block = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    expected = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    script = tmp_path / "example.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == expected
