"""Rewrite the lifecycle table of docs/concepts.md from tandem.core.lifecycle (run it after
changing the lifecycle; tests/core/test_lifecycle.py checks the docs hold exactly this)."""

import re
from pathlib import Path

from tandem.core.lifecycle import render_markdown

DOCS = Path(__file__).resolve().parent.parent / "docs" / "concepts.md"
text = DOCS.read_text()
new = re.sub(r"(<!-- lifecycle:begin -->\n).*?(<!-- lifecycle:end -->)",
             lambda m: m.group(1) + render_markdown() + m.group(2), text, flags=re.S)
DOCS.write_text(new)
