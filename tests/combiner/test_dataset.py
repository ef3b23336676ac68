"""Folders of signals on engines: resumable runs, byte-identical files on every engine, faults.

The Ray cases run a local Ray of two workers (skipped where Ray is not installed).
"""

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from combiner import codec, container, engines, evaluate, parallel
from combiner.data import cifar10_samples
from combiner.dataset import MANIFEST, Manifest, Settings, compress_batch, compress_dataset
from combiner.errors import InputError
from combiner.shipped import load_prior, prior_for_file

IMAGES = 6
PRIOR = "cifar-learned-beta2e-06"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    images = (cifar10_samples()[0][:IMAGES] * 255).round().astype(np.uint8)
    (root / "more").mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(root / ("more" if i >= 4 else ".") / f"{i}.png")
    (root / "broken.png").write_bytes(b"not an image")
    (root / "notes.txt").write_text("not a signal")
    return root


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.cmb"))}


@pytest.fixture(scope="module")
def reference(folder, tmp_path_factory):
    """One process, batches of 2: what every engine must reproduce byte for byte."""
    out = tmp_path_factory.mktemp("reference")
    summary = compress_dataset(folder, out, preset="tiny", batch_size=2, progress=False)
    return out, summary


def test_a_folder_compresses_and_reports_its_bad_file(folder, reference):
    out, summary = reference
    assert (summary.files, summary.done, summary.failed) == (IMAGES + 1, IMAGES, 1)
    assert (
        "broken.png" in summary.failures and "cannot read image" in summary.failures["broken.png"]
    )
    files = _outputs(out)
    assert sorted(files) == sorted(
        [f"{i}.png.cmb" for i in range(4)] + ["more/4.png.cmb", "more/5.png.cmb"]
    )
    entries = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    ok = {e["input"]: e for e in entries if e["status"] == "ok"}
    for name, data in files.items():
        decoded = codec.decompress(data, prior_for_file(data))
        source = np.asarray(Image.open(folder / name.removesuffix(".cmb")))
        assert decoded.shape == source.shape
        assert ok[name.removesuffix(".cmb")]["bytes"] == len(data)
    assert summary.bytes == sum(len(d) for d in files.values())


def test_a_rerun_skips_what_is_done_and_redoes_what_is_missing_or_corrupt(
    folder, reference, tmp_path
):
    out = tmp_path / "out"
    shutil.copytree(reference[0], out)
    again = compress_dataset(folder, out, preset="tiny", batch_size=2, progress=False)
    assert (again.done, again.skipped, again.failed) == (0, IMAGES, 1)
    (out / "1.png.cmb").unlink()
    damaged = bytearray((out / "more/5.png.cmb").read_bytes())
    damaged[-1] ^= 0xFF
    (out / "more/5.png.cmb").write_bytes(bytes(damaged))
    untouched = (out / "2.png.cmb").stat().st_mtime_ns
    fixed = compress_dataset(folder, out, preset="tiny", batch_size=2, progress=False)
    # Sorted batches of 2: {0, 1}, {2, 3}, {broken, more/4}, {more/5}; the first and last are
    # redone whole (a file's bytes depend on its batch).
    assert (fixed.done, fixed.skipped) == (3, 3)
    assert (out / "2.png.cmb").stat().st_mtime_ns == untouched
    assert _outputs(out) == _outputs(reference[0])
    # Other settings are other files: nothing counts as done for them.
    manifest = Manifest(out)
    for settings in (Settings(preset="tiny", batch_size=2), Settings(preset="tiny", seed=1)):
        done = [manifest.finished(f"{i}.png", settings, folder, out) for i in range(4)]
        assert done == [settings.seed == 0] * 4


def test_local_worker_processes_give_the_same_bytes(folder, reference, tmp_path):
    summary = compress_dataset(
        folder, tmp_path, preset="tiny", batch_size=2, workers=2, progress=False
    )
    assert summary.done == IMAGES
    assert _outputs(tmp_path) == _outputs(reference[0])


def test_the_manifest_records_the_coder_the_preset_or_the_caller_chose(folder, tmp_path):
    greedy = compress_dataset(folder, tmp_path, preset="tiny", coder="greedy", progress=False)
    assert greedy.done == IMAGES
    entries = [json.loads(line) for line in (tmp_path / MANIFEST).read_text().splitlines()]
    assert {e["settings"]["coder"] for e in entries if e["status"] == "ok"} == {"greedy"}
    for data in _outputs(tmp_path).values():
        assert container.unpack(data)[0].coder == "greedy"
        assert codec.decompress(data, prior_for_file(data)).shape == (32, 32, 3)


def test_bad_requests_fail_before_any_work(folder, tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        compress_dataset(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(InputError, match="no image"):
        compress_dataset(tmp_path, tmp_path / "out")
    with pytest.raises(InputError, match="unknown preset"):
        compress_dataset(folder, tmp_path / "out", preset="slow")
    with pytest.raises(InputError, match="no coder 'orc'"):
        compress_dataset(folder, tmp_path / "out", coder="orc")
    with pytest.raises(InputError, match="unknown engine"):
        compress_dataset(folder, tmp_path / "out", engine="spark")


def test_a_planted_manifest_link_is_refused_and_its_target_untouched(folder, tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).symlink_to(target)
    with pytest.raises(InputError, match="not a regular file"):
        compress_dataset(folder, out, preset="tiny", progress=False)
    assert target.read_text() == "keep me" and not list(out.glob("*.cmb"))


def test_without_ray_the_command_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    with pytest.raises(InputError, match=r"pip install 'combiner\[ray\]'"):
        engines.get_engine("ray", workers=2)


def test_a_killed_job_resumes_without_redoing_finished_files(folder, reference, tmp_path):
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "combiner", "compress-dataset", str(folder), "-o", str(out),
        "--preset", "tiny", "--batch-size", "2",
    ]  # fmt: skip
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = out / MANIFEST
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and job.poll() is None:
        if manifest.exists() and len(manifest.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    finished = {
        e["input"]
        for e in map(json.loads, manifest.read_text().splitlines())
        if e["status"] == "ok"
    }
    assert 0 < len(finished) < IMAGES, "the job was not caught mid-way"
    stamps = {n: (out / f"{n}.cmb").stat().st_mtime_ns for n in finished}
    assert not list(out.rglob("*.tmp*")) and not [p for p in out.rglob(".*") if p.is_file()]
    resumed = compress_dataset(folder, out, preset="tiny", batch_size=2, progress=False)
    assert resumed.skipped == len(finished) and resumed.done == IMAGES - len(finished)
    assert {n: (out / f"{n}.cmb").stat().st_mtime_ns for n in finished} == stamps
    assert _outputs(out) == _outputs(reference[0])


@pytest.fixture(scope="module")
def ray_engine():
    pytest.importorskip("ray")
    engine = engines.get_engine("ray", workers=2, retries=2)
    yield engine
    engine.close()


def test_ray_gives_the_same_bytes(folder, reference, ray_engine, tmp_path):
    summary = compress_dataset(
        folder, tmp_path, preset="tiny", batch_size=2, engine=ray_engine, progress=False
    )
    assert (summary.done, summary.failed) == (IMAGES, 1)
    assert _outputs(tmp_path) == _outputs(reference[0])


def _dies_once(batch, shared, marker):
    """A batch task whose worker is killed the first time it runs batch 1."""
    if batch.index == 1 and not marker.exists():
        marker.write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)
    return compress_batch(batch, shared)


def test_a_killed_ray_worker_costs_only_its_batch(folder, reference, ray_engine, tmp_path):
    import ray

    # Ray's workers cannot import this test module: send the task by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "marker"
    summary = compress_dataset(
        folder, tmp_path / "out", preset="tiny", batch_size=2, engine=ray_engine,
        progress=False, task=functools.partial(_dies_once, marker=marker),
    )  # fmt: skip
    assert marker.exists()  # the worker did die
    assert (summary.done, summary.failed) == (IMAGES, 1)
    assert _outputs(tmp_path / "out") == _outputs(reference[0])


def test_sharded_prior_training_on_ray_matches_one_process(ray_engine):
    data = cifar10_samples()[0][:6]
    options = {"preset": "tiny", "beta": 1e-4, "kappa": 8, "shards": 2}
    local = codec.train_prior(data, **options)
    distributed = codec.train_prior(data, engine=ray_engine, **options)
    for a, b in (
        (local.prior.mean, distributed.prior.mean),
        (local.prior.std, distributed.prior.std),
    ):
        assert float(((a - b).abs() / b.abs().clamp(min=1e-12)).max()) < 1e-5
    np.testing.assert_allclose(distributed.kl_bits_per_weight, local.kl_bits_per_weight, rtol=1e-5)
    assert [b.tolist() for b in distributed.blocks] == [b.tolist() for b in local.blocks]


def test_evaluate_and_compress_many_run_on_ray(ray_engine):
    data = cifar10_samples()[0][:4]
    prior = load_prior(PRIOR)
    on_ray = parallel.compress_many(data, prior, batch_size=2, engine=ray_engine, preset="tiny")
    local = parallel.compress_many(data, prior, workers=1, batch_size=2, threads=1, preset="tiny")
    assert [r.data for r in on_ray] == [r.data for r in local]
    row = evaluate.combiner_run(data, PRIOR, "COMBINER", "tiny", engine=ray_engine)
    assert row["bpp"] == pytest.approx(np.mean([r.bpp for r in on_ray]))
