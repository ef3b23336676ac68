"""The ziggurat tables shipped in ``rectools.ziggurat`` are exactly what 60-digit
arithmetic gives (every float correctly rounded), and the layers have equal areas.

Regenerate the module with ``python tests/rectools/test_ziggurat_tables.py >
rectools/ziggurat.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

mp = pytest.importorskip("mpmath").mp

LAYERS = 256


def _density(x: object) -> object:
    return mp.exp(-x * x / 2)


def _layers() -> tuple[list, object]:
    """Edges ``x_0 > x_1 = R > ... > x_256 = 0`` of 256 equal-area layers under
    ``exp(-x^2 / 2)`` (layer 0 is the base strip with the tail), and the area ``V``."""
    mp.dps = 60

    def tail_area(r: object) -> object:
        return r * _density(r) + mp.sqrt(mp.pi / 2) * mp.erfc(r / mp.sqrt(2))

    def edges(r: object) -> list:
        area = tail_area(r)
        xs = [area / _density(r), r]
        for _ in range(LAYERS - 2):
            xs.append(mp.sqrt(-2 * mp.log(_density(xs[-1]) + area / xs[-1])))
        return xs

    def top_gap(r: object) -> object:
        top = edges(r)[-1]
        return top * (1 - _density(top)) - tail_area(r)

    r = mp.findroot(top_gap, mp.mpf("3.6541528853610088"))
    return [*edges(r), mp.mpf(0)], tail_area(r)


def build() -> dict[str, list]:
    xs, _ = _layers()
    return {
        "EDGES": [float(x) for x in xs],
        "DENSITIES": [float(_density(x)) for x in xs],
        "THRESHOLDS": [int(mp.floor(2**53 * xs[i + 1] / xs[i])) for i in range(LAYERS)],
    }


def test_tables_match_high_precision() -> None:
    from rectools import ziggurat as tables

    built = build()
    assert np.array_equal(tables.EDGES, np.array(built["EDGES"]))
    assert np.array_equal(tables.DENSITIES, np.array(built["DENSITIES"]))
    assert np.array_equal(tables.THRESHOLDS, np.array(built["THRESHOLDS"], dtype=np.uint64))


def test_layers_have_equal_area() -> None:
    xs, area = _layers()
    for i in range(1, LAYERS):
        assert abs(xs[i] * (_density(xs[i + 1]) - _density(xs[i])) - area) < mp.mpf(10) ** -40


def _literal(name: str, values: list, per_line: int, fmt: Callable[[object], str]) -> str:
    items = [fmt(v) for v in values]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    body = ",\n    ".join(lines)
    dtype = ", dtype=np.uint64" if name == "THRESHOLDS" else ""
    return f"{name} = np.array([\n    {body},\n]{dtype})\n"


if __name__ == "__main__":
    built = build()
    print('"""Ziggurat tables for the standard normal (256 layers), generated: do not edit.')
    print()
    print(
        "``EDGES[i]`` is layer ``i``'s right edge ``x_i`` (``x_0 = V / f(R)`` for the base strip,"
    )
    print("``x_1 = R``, ``x_256 = 0``), ``DENSITIES[i] = exp(-x_i^2 / 2)``, ``THRESHOLDS[i] =")
    print(
        "floor(2^53 x_{i+1} / x_i)``: a 53-bit ``u`` below it lies inside layer ``i``'s rectangle."
    )
    print(
        "Regenerate with ``python tests/rectools/test_ziggurat_tables.py``, which checks them too."
    )
    print('"""')
    print()
    print("import numpy as np")
    print()
    print("# fmt: off")
    print(_literal("EDGES", built["EDGES"], 3, repr))
    print(_literal("DENSITIES", built["DENSITIES"], 3, repr))
    print(_literal("THRESHOLDS", built["THRESHOLDS"], 4, str))
    print("# fmt: on")
