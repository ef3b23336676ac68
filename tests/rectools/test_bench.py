"""The public benchmark API: pairs at a KL, the sweep's table, matched TV, the command line."""

import csv

import numpy as np
import pytest

import rectools
from rectools import bench


@pytest.mark.parametrize(("kl", "dim"), [(0.5, 1), (6.0, 4), (20.0, 16)])
def test_target_with_kl_hits_the_kl(kl, dim):
    q, p = bench.target_with_kl(kl, dim)
    assert rectools.kl_bits(q, p) == pytest.approx(kl, abs=1e-9)
    assert np.isfinite(rectools.log_ratio_bound(q, p))  # every coder can take it


def test_sweep_rows_cover_the_coders_that_accept_each_pair():
    rows = bench.sweep(kls=(3.0,), dims=(1,), seeds=20)
    coders = {"astar", "gprs", "gprs-bnb", "greedy", "mrc", "orc", "pfr"}
    assert {r["coder"] for r in rows} == coders
    for row in rows:
        assert row["kl_bits"] == pytest.approx(3.0, abs=1e-3) and row["encode_ms"] > 0
        assert row["mean_bits"] > 0 and 0 <= row["ks_axis0"] <= 1


def test_matched_tv_finds_astar_cheaper_than_mrc():
    q = rectools.Categorical([0.45, 0.25, 0.15, 0.1, 0.05])
    rows = bench.matched_tv(q, rectools.UniformCategorical(5), tv_targets=(0.01,))
    t = {r["coder"]: r["t_bits"] for r in rows}
    assert t["astar"] < t["mrc"] == pytest.approx(t["orc"])  # ORC has MRC's law


def test_the_command_line_writes_table_and_figure(tmp_path, capsys):
    bench.main(["--quick", "-o", str(tmp_path)])
    assert "matched total variation" in capsys.readouterr().out
    with open(tmp_path / "rec-bench.csv") as f:
        assert len(list(csv.DictReader(f))) > 10
    assert (tmp_path / "rec-bench.png").stat().st_size > 10_000
