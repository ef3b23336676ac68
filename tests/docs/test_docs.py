"""Every tutorial and every Python example in docs/ runs as written."""

import os
import re
import runpy
import time
from pathlib import Path

import matplotlib
import pytest

from combiner import container, signals
from rectools.coders import registry

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = sorted((ROOT / "tutorials").glob("*.py"))
PAGES = sorted((ROOT / "docs").rglob("*.md"))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """Headless plots, a scratch directory, and registries restored after each example."""
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("matplotlib.pyplot.show", lambda *a, **k: None)
    monkeypatch.setattr(registry, "_CODERS", dict(registry._CODERS))
    monkeypatch.setattr(signals, "_MODALITIES", dict(signals._MODALITIES))
    monkeypatch.setattr(container, "MODALITIES", container.MODALITIES)


def test_there_are_eight_tutorials():
    assert len(TUTORIALS) == 8


#: A learner waits for a tutorial; each states its run time and must stay under this (the
#: slowest takes about two minutes on CI's 2-core CPU).
TUTORIAL_SECONDS = 180


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_runs_in_under_three_minutes(path):
    start = time.perf_counter()
    runpy.run_path(str(path), run_name="__main__")
    assert time.perf_counter() - start < TUTORIAL_SECONDS


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.name)
def test_tutorial_states_its_run_time(path):
    assert re.search(
        r"^# \*Runs in (about|under) [^*]+ on a 2-core CPU\.\*$", path.read_text(), re.M
    )


def _python_blocks(page: Path) -> list[str]:
    """The page's Python blocks, with ``--8<-- "file"`` snippet lines replaced by the file."""
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)
    return [
        re.sub(r'^--8<-- "([^"]+)"$', lambda m: (ROOT / m.group(1)).read_text(), b, flags=re.M)
        for b in blocks
    ]


@pytest.mark.parametrize("page", [p for p in PAGES if _python_blocks(p)], ids=lambda p: p.name)
def test_docs_examples_run(page):
    namespace: dict = {}
    for block in _python_blocks(page):
        exec(compile(block, str(page), "exec"), namespace)


def test_nav_lists_every_page():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in PAGES:
        relative = page.relative_to(ROOT / "docs").as_posix()
        assert relative in nav, f"{relative} is not in mkdocs.yml's nav"
    for tutorial in TUTORIALS:
        assert f"tutorials/{tutorial.name}" in nav
    assert os.path.islink(ROOT / "docs" / "tutorials")


def test_tutorial_02_prices_each_coder_with_its_own_index_model(monkeypatch, capsys):
    """The A* lesson: every coder's bits come from the index model that coder declares."""
    import rectools

    fitted = []
    real_fit = rectools.fit_index_model

    def recording_fit(name, indices, num_candidates):
        fitted.append(name)
        return real_fit(name, indices, num_candidates)

    monkeypatch.setattr(rectools, "fit_index_model", recording_fit)
    runpy.run_path(str(ROOT / "tutorials" / "02_astar_coding.py"), run_name="__main__")
    printed = dict(re.findall(r"^\s*(\w+): ([\d.]+) bits per index", capsys.readouterr().out, re.M))
    assert set(printed) == {"astar", "mrc"}
    assert fitted == [rectools.get_coder(name).index_model for name in printed]
    assert float(printed["astar"]) < float(printed["mrc"])


def _public_names_without_docstrings() -> list[str]:
    import importlib
    import inspect
    import pkgutil

    import combiner
    import rectools

    missing = []
    for package in (rectools, combiner):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if info.name.rsplit(".", 1)[-1].startswith("_"):
                continue
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                    continue
                if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                    continue
                if not obj.__doc__:
                    missing.append(f"{module.__name__}.{name}")
                members = vars(obj).items() if inspect.isclass(obj) else ()
                for member, value in members:
                    function = value.fget if isinstance(value, property) else value
                    function = getattr(function, "__func__", function)
                    inherited = any(
                        getattr(getattr(base, member, None), "__doc__", None)
                        for base in obj.__mro__[1:]
                    )
                    if (
                        not member.startswith("_")
                        and inspect.isfunction(function)
                        and not function.__doc__
                        and not inherited
                    ):
                        missing.append(f"{module.__name__}.{name}.{member}")
    return missing


def test_every_public_name_has_a_docstring():
    """Names without one silently vanish from the API reference."""
    assert _public_names_without_docstrings() == []
