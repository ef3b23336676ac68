"""Packaging promises: rectools stands alone, and works (slower) without numba."""

import subprocess
import sys

import pytest


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_rectools_never_imports_torch():
    out = _run(
        "import sys, rectools, rectools.testing, rectools.bench; "
        "print('torch' in sys.modules, 'combiner' in sys.modules)"
    )
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize("name", ["astar", "mrc", "orc", "pfr", "gprs"])
def test_works_without_numba(name):
    options = {} if name in ("pfr", "gprs") else {"t": 2.0}  # exact coders take no t
    code = f"""
options = {options!r}
import sys
sys.modules["numba"] = None  # make `import numba` fail
import numpy as np, rectools
assert not rectools.HAVE_NUMBA
dim = 1 if "{name}" == "gprs" else 3
p = rectools.DiagonalGaussian(np.zeros(dim), np.ones(dim))
q = rectools.DiagonalGaussian(np.full(dim, 0.4), np.full(dim, 0.5))
coder = rectools.get_coder("{name}", **options)
res = coder.encode(q, p, seed=9)
x = coder.decode(res.index, p, seed=9, num_candidates=res.num_candidates)
assert np.array_equal(x, res.sample)
print(res.index)
"""
    without = int(_run(code))
    import numpy as np

    import rectools

    dim = 1 if name == "gprs" else 3
    p = rectools.DiagonalGaussian(np.zeros(dim), np.ones(dim))
    q = rectools.DiagonalGaussian(np.full(dim, 0.4), np.full(dim, 0.5))
    # The NumPy twins agree with the kernels to the last bit or two, so the index matches.
    assert without == rectools.get_coder(name, **options).encode(q, p, seed=9).index
