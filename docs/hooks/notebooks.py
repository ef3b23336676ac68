"""mkdocs hook: write every tutorial as a Jupyter notebook next to its page.

Tutorials are kept as plain ``.py`` files in the percent format (readable diffs, runnable as
scripts); at build time jupytext turns each one into ``<page>/<name>.ipynb``, which the
tutorial's first cell links to, so a learner can download and run it in Jupyter.
"""

from __future__ import annotations

from pathlib import Path

import jupytext


def on_post_build(config: dict, **_: object) -> None:
    site = Path(config["site_dir"])
    for source in sorted((Path(config["docs_dir"]) / "tutorials").glob("*.py")):
        page = site / "tutorials" / source.stem
        page.mkdir(parents=True, exist_ok=True)
        jupytext.write(jupytext.read(source), page / f"{source.stem}.ipynb")
