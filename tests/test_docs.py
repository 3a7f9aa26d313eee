"""The README's example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_example_runs(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has no python example"
    script = tmp_path / "example.py"
    script.write_text(blocks[0])
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "model: 1.75" in out.stdout
    assert (tmp_path / "runs" / "example" / "trace.jsonl").exists()


def test_concepts_layout_names_every_module() -> None:
    """docs/concepts.md's layout has one line per module of src/tandem, and no stale one."""
    text = (ROOT / "docs" / "concepts.md").read_text()
    layout = text[text.index("## Layout"):text.index("## The task lifecycle")]
    named: set[str] = set()
    package = ""
    for line in layout.splitlines():
        head = re.fullmatch(r"\*\*`(\w+)/`\*\*", line.strip())
        if head:
            package = head.group(1) + "/"
        elif line.strip() == "**top level**":
            package = ""
        item = re.match(r"- `([\w.]+\.py)`: \S", line)
        if item:
            named.add(package + item.group(1))
    src = ROOT / "src" / "tandem"
    modules = {str(p.relative_to(src)) for p in src.rglob("*.py")
               if p.name != "__init__.py" or p.parent == src}
    assert sorted(modules - named) == [], "modules missing from docs/concepts.md's layout"
    assert sorted(named - modules) == [], "docs/concepts.md's layout names modules that are gone"
