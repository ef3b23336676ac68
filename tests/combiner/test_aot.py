"""combiner.aot: the step compiled ahead of time takes the fused step's steps, is built once
per kind of input and loaded from disk after that, and a damaged library is built again."""

import pytest
import torch
from step_problems import CONFIG, as_double, step_problem

from combiner import aot, fused
from combiner.threads import torch_threads

BETAS, EPS = (0.9, 0.999), 1e-8


def _problem(batch: int, points: int, blocks: int):
    """A step's arguments in float64, so that rounding cannot hide a wrong kernel."""
    mean, rho, inputs = step_problem(batch, blocks, 0.3, points)
    mean, rho = mean.double(), rho.double()
    return mean, rho, fused.Adam.fresh((mean, rho), 1e-3), as_double(inputs)


def _never(*_args):
    raise AssertionError("the fallback ran")


def _steps(step, problem, count: int = 3):
    mean, rho, adam, inputs = problem
    for _ in range(count):
        mse, block_kl = step(CONFIG, mean, rho, adam.state, adam.lr, BETAS, EPS, inputs)
    return [mean, rho, *adam.state, mse, block_kl]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """An empty cache for this module: one library is built, on the first test's call."""
    folder = tmp_path_factory.mktemp("aot-cache")
    with pytest.MonkeyPatch.context() as patch, torch_threads(1):  # the library's fits
        patch.setenv("COMBINER_CACHE_DIR", str(folder))
        patch.setattr(aot.AheadOfTimeStep, "_runners", {})
        yield folder


@pytest.mark.parametrize(("batch", "points", "blocks"), [(1, 1024, 120), (3, 100, 40), (2, 9, 2)])
def test_the_compiled_step_takes_the_fused_steps(cache, batch, points, blocks):
    # One library for every batch, grid and partition size (they are dynamic in the export).
    ours = _steps(aot.AheadOfTimeStep(_never), _problem(batch, points, blocks))
    reference = _steps(fused.fused_step, _problem(batch, points, blocks))
    for a, b in zip(ours, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert len(list((cache / "aot-step").glob("*.so"))) == 1


def test_a_built_library_is_loaded_not_rebuilt(cache, monkeypatch):
    _steps(aot.AheadOfTimeStep(_never), _problem(2, 9, 3), count=1)  # built here if run alone
    monkeypatch.setattr(aot.AheadOfTimeStep, "_runners", {})  # as a new process
    monkeypatch.setattr(aot, "_build", _never)
    ours = _steps(aot.AheadOfTimeStep(_never), _problem(2, 9, 3))
    torch.testing.assert_close(
        ours, _steps(fused.fused_step, _problem(2, 9, 3)), rtol=1e-9, atol=1e-12
    )


def test_a_damaged_library_is_built_again(cache, monkeypatch, capsys):
    _steps(aot.AheadOfTimeStep(_never), _problem(2, 9, 3), count=1)
    [library] = (cache / "aot-step").glob("*.so")
    good = library.read_bytes()
    # Truncated, as by a full disk (a new file: the loaded one must not change under us).
    library.unlink()
    library.write_bytes(good[: len(good) // 3])
    monkeypatch.setattr(aot.AheadOfTimeStep, "_runners", {})
    monkeypatch.setattr(aot, "_build", lambda *_args: good)
    ours = _steps(aot.AheadOfTimeStep(_never), _problem(2, 9, 3))
    reference = _steps(fused.fused_step, _problem(2, 9, 3))
    torch.testing.assert_close(ours, reference, rtol=1e-9, atol=1e-12)
    assert library.read_bytes() == good
    assert "compiling the fitting step" in capsys.readouterr().err


@pytest.mark.parametrize(("blocks", "threads"), [(1, 1), (3, 2)])
def test_what_the_library_does_not_take_goes_to_the_fallback(monkeypatch, blocks, threads):
    # One block (prior learning's plain beta-ELBO) is not in the exported program, and fits on
    # several threads go through torch.compile.
    monkeypatch.setattr(aot, "_build", _never)
    with torch_threads(threads):
        ours = _steps(aot.AheadOfTimeStep(fused.fused_step), _problem(2, 9, blocks))
    torch.testing.assert_close(ours, _steps(fused.fused_step, _problem(2, 9, blocks)))


def test_a_failed_build_says_so_and_falls_back(cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COMBINER_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(aot.AheadOfTimeStep, "_runners", {})

    def no_compiler(*_args):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(aot, "_build", no_compiler)
    ours = _steps(aot.AheadOfTimeStep(fused.fused_step), _problem(2, 9, 3))
    torch.testing.assert_close(ours, _steps(fused.fused_step, _problem(2, 9, 3)))
    assert "ahead-of-time compilation failed (RuntimeError)" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.so"))


def test_a_cache_others_may_write_to_is_not_used(cache, tmp_path, monkeypatch, capsys):
    # A library planted in a shared folder would run as this user: neither built nor loaded.
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("COMBINER_CACHE_DIR", str(shared))
    monkeypatch.setattr(aot.AheadOfTimeStep, "_runners", {})
    monkeypatch.setattr(aot, "_build", _never)
    (shared / "aot-step").mkdir()
    (shared / "aot-step").chmod(0o777)
    ours = _steps(aot.AheadOfTimeStep(fused.fused_step), _problem(2, 9, 3))
    torch.testing.assert_close(ours, _steps(fused.fused_step, _problem(2, 9, 3)))
    assert "PermissionError" in capsys.readouterr().err
