"""Check the built documentation site: no raw Sphinx roles, no walls of progress-bar output.

Run after ``mkdocs build`` (``.ci/run`` does): ``python tests/docs/check_site.py site``.
Exits non-zero, naming the pages, when a page shows a raw role such as ``:class:`` (a
cross-reference mkdocstrings did not turn into a link) or a progress bar's output (tqdm's
``it/s]`` or ``s/it]``) that a tutorial printed into the page, or a tutorial page without
its downloadable notebook.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

RAW_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr):`")
PROGRESS = re.compile(r"\d(?:it/s|s/it)\]")


def problems(site: Path) -> list[str]:
    found = []
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(errors="replace")
        for what, pattern in (("raw role", RAW_ROLE), ("progress bar output", PROGRESS)):
            hits = len(pattern.findall(text))
            if hits:
                found.append(f"{page.relative_to(site)}: {hits} x {what}")
    for page in sorted((site / "tutorials").glob("*/index.html")):
        if not (page.parent / f"{page.parent.name}.ipynb").exists():
            found.append(f"{page.relative_to(site)}: no {page.parent.name}.ipynb next to it")
    return found


if __name__ == "__main__":
    site = Path(sys.argv[1] if len(sys.argv) > 1 else "site")
    if not any(site.rglob("*.html")):
        sys.exit(f"no HTML pages under {site}: build the site first")
    bad = problems(site)
    print("\n".join(bad) or f"{site}: no raw roles, no progress-bar output")
    sys.exit(1 if bad else 0)
