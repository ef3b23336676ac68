"""Hostile files and careless paths: documented errors only, bounded cost, nothing destroyed.

The fuzz cases are seeded (the same on every machine); ``benchmarks/fuzz_files.py`` runs
10,000 files and 100 priors with the same generators.
"""

import errno
import os
import struct
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import wavfile

import rectools
from combiner import cli, codec, container, fuzz, inputs, safeio
from combiner.errors import ContainerError, InputError, PriorError
from combiner.limits import MAX_GRID_POINTS
from combiner.priorfile import PriorFile
from combiner.shipped import load_prior

GOLDEN = Path(__file__).parent / "golden"
PRIOR = "cifar-learned-beta2e-05"
GIB = 2**30


@pytest.fixture(scope="module")
def valid_file():
    return (GOLDEN / "cifar10_01-v2.cmb").read_bytes()


@pytest.mark.parametrize("generator", [fuzz.mutated_files, fuzz.forged_files])
def test_fuzzed_files_raise_only_container_errors_in_bounded_time(valid_file, generator):
    prior = load_prior(PRIOR)
    cases = generator([valid_file], np.random.default_rng(11), 300)
    outcomes = fuzz.run_cases(cases, lambda data: codec.decompress(data, prior), fuzz.FILE_ERRORS)
    assert outcomes.cases == 300 and outcomes.failures == []
    assert outcomes.slowest_s < 2.0
    assert outcomes.peak_rss_growth_bytes < GIB


def test_malformed_priors_raise_only_prior_errors(tmp_path):
    raw = (Path(codec.__file__).parent / "priors" / f"{PRIOR}.npz").read_bytes()
    path = tmp_path / "p.npz"

    def load(data: bytes) -> PriorFile:
        path.write_bytes(data)
        return PriorFile.load(path)

    cases = fuzz.malformed_priors(raw, np.random.default_rng(12), 100)
    outcomes = fuzz.run_cases(cases, load, fuzz.PRIOR_ERRORS)
    assert outcomes.cases == 100 and outcomes.failures == []
    assert outcomes.slowest_s < 2.0 and outcomes.peak_rss_growth_bytes < GIB
    # Every structural attack is refused; only benign edits (unused arrays) may load.
    refused = {kind for (kind, outcome) in outcomes.counts if outcome == "refused"}
    assert {"deep json", "claims 2**40 values", "reshaped array", "meta a list"} <= refused


def test_forged_files_through_the_cli_leave_nothing_behind(valid_file, tmp_path, capsys):
    cases = list(fuzz.forged_files([valid_file], np.random.default_rng(13), 40))
    source, out = tmp_path / "in.cmb", tmp_path / "out.png"
    for _, data in cases:
        source.write_bytes(data)
        code = cli.main(["decompress", str(source), "-o", str(out), "--prior", PRIOR])
        err = capsys.readouterr().err
        assert code in (0, 2) and "Traceback" not in err and len(err.splitlines()) <= 1
        left = sorted(p.name for p in tmp_path.iterdir())
        assert left == (["in.cmb", "out.png"] if code == 0 else ["in.cmb"])
        out.unlink(missing_ok=True)


def _forged(shape: tuple[int, ...], params: tuple[int, ...] = (), modality: str = "image"):
    prior = load_prior(PRIOR)
    header = container.Header(modality, shape, prior.content_hash[:2], "astar", "empirical")
    header = container.Header(**{**header.__dict__, "modality_params": params})
    return container.pack(header, bytes(40)), prior


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((30000, 30000, 3), "over the limits"),
        ((4000, 4000, 3), "over the limits"),
        ((0, 32, 3), "empty signal"),
        ((32, 32, 3, 1, 1), "5-dimensional"),
        ((32, 32, 1000), "over the limits"),
    ],
)
def test_forged_shapes_are_refused_before_any_allocation(shape, message):
    data, prior = _forged(shape)
    start = time.perf_counter()
    with pytest.raises(ContainerError, match=message):
        codec.decompress(data, prior)
    assert time.perf_counter() - start < 0.5


def test_a_file_at_the_limit_decodes_and_one_point_more_does_not():
    side = int(MAX_GRID_POINTS**0.5)
    data, prior = _forged((MAX_GRID_POINTS // side, side, 3))
    assert codec.decompress(data, prior).shape == (MAX_GRID_POINTS // side, side, 3)
    data, prior = _forged((MAX_GRID_POINTS + 1, 1, 3))
    with pytest.raises(ContainerError, match="over the limits"):
        codec.decompress(data, prior)


def test_forged_seed_and_array_range_are_refused(valid_file):
    header, payload = container.unpack(valid_file)
    body = bytearray(container.pack(header, payload)[:-2])
    # Replace the seed (42, one varint byte after the flags and hash) by a 70-bit one.
    seed_at = body.index(bytes([42]), 6)
    forged = bytes(body[:seed_at]) + b"\xff" * 9 + b"\x3f" + bytes(body[seed_at + 1 :])
    forged = forged + struct.pack("<H", __import__("binascii").crc_hqx(forged, 0))
    with pytest.raises(ContainerError, match="seed"):
        container.unpack(forged)
    inf, minus_inf = 0x7F800000, 0xFF800000
    data, prior = _forged((32, 32, 3), (2, 3, minus_inf, inf), modality="array")
    with pytest.raises(ContainerError):
        codec.decompress(data, prior)


def test_large_files_carry_a_crc32_and_small_ones_a_crc16():
    header = container.Header("image", (32, 32, 3), b"ab", "astar", "empirical")
    small, large = container.pack(header, bytes(100)), container.pack(header, bytes(2000))
    assert small[2] >> 4 == 2 and large[2] >> 4 == 3
    assert container.unpack(large)[1] == bytes(2000)
    greedy = replace(header, coder="greedy")
    small, large = container.pack(greedy, bytes(100)), container.pack(greedy, bytes(2000))
    assert small[2] >> 4 == 4 and large[2] >> 4 == 5
    assert container.unpack(large) == (greedy, bytes(2000))
    damaged = bytearray(large)
    damaged[500] ^= 4
    with pytest.raises(ContainerError, match="checksum"):
        container.unpack(bytes(damaged))


def test_info_on_a_zero_sized_file_is_a_message(tmp_path, capsys):
    data, _ = _forged((0, 0, 3))
    (tmp_path / "z.cmb").write_bytes(data)
    assert cli.main(["info", str(tmp_path / "z.cmb")]) == 2
    assert "empty signal" in capsys.readouterr().err


def test_a_prior_whose_arrays_were_reshaped_is_refused(tmp_path):
    prior = load_prior(PRIOR)
    arrays = {f"prior_{k}": v.numpy() for k, v in prior.prior.state().items()}
    arrays["prior_mean"] = arrays["prior_mean"][:, None]
    meta = np.array(__import__("json").dumps(prior._meta()))
    np.savez(tmp_path / "p.npz", meta=meta, kl_bits_per_weight=prior.kl_bits_per_weight, **arrays)
    with pytest.raises(PriorError, match="prior_mean"):
        PriorFile.load(tmp_path / "p.npz")


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "img.png"
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(path)
    return path


def test_output_equal_to_input_is_refused_and_the_input_kept(png, capsys):
    before = png.read_bytes()
    assert cli.main(["compress", str(png), "-o", str(png), "--preset", "tiny"]) == 2
    assert "refusing to overwrite the input" in capsys.readouterr().err
    assert png.read_bytes() == before
    alias = png.with_name("alias.png")
    alias.symlink_to(png)
    assert cli.main(["compress", str(png), "-o", str(alias), "--preset", "tiny"]) == 2
    assert png.read_bytes() == before and alias.is_symlink()


def test_a_missing_folder_or_a_directory_output_fails_before_fitting(png, tmp_path, capsys):
    start = time.perf_counter()
    out = tmp_path / "nowhere" / "x.cmb"
    assert cli.main(["compress", str(png), "-o", str(out), "--preset", "fast"]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "adir").mkdir()
    assert cli.main(["compress", str(png), "-o", str(tmp_path / "adir"), "--preset", "fast"]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert (tmp_path / "adir").is_dir() and time.perf_counter() - start < 5.0


def test_a_planted_link_at_the_temporary_name_is_never_followed(tmp_path, monkeypatch):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    target = tmp_path / "out.cmb"
    (tmp_path / ".out.cmb.aaaa.partial").symlink_to(victim)
    tokens = iter(["aaaa", "bbbb"])
    monkeypatch.setattr(safeio.secrets, "token_hex", lambda _: next(tokens))
    safeio.write_atomically(target, b"new")
    assert victim.read_bytes() == b"precious" and target.read_bytes() == b"new"
    assert (tmp_path / ".out.cmb.aaaa.partial").is_symlink()


@pytest.mark.parametrize(
    ("where", "error"),
    [("fsync", OSError(errno.ENOSPC, "No space left on device")), ("replace", KeyboardInterrupt())],
)
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path, monkeypatch, where, error
):
    target = tmp_path / "out.cmb"
    target.write_bytes(b"old")

    def fail(*args):
        raise error

    monkeypatch.setattr(safeio.os, where, fail)
    with pytest.raises(type(error)):
        safeio.write_atomically(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.cmb"]


def test_disk_full_through_the_cli_is_a_message(png, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out.cmb"
    out.write_bytes(b"old")

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safeio.os, "fsync", full)
    code = cli.main(["compress", str(png), "-o", str(out), "--prior", PRIOR, "--preset", "tiny"])
    assert code == 2 and "No space left on device" in capsys.readouterr().err
    assert out.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 2


def test_sixteen_bit_png_is_read_at_its_range(tmp_path):
    path = tmp_path / "deep.png"
    values = (np.arange(64).reshape(8, 8) * 1000).astype(np.uint16)
    Image.fromarray(values).save(path)
    notes: list[str] = []
    pixels = inputs.read_image(path, notes)
    assert pixels.shape == (8, 8, 3) and np.allclose(pixels[..., 0], values / 65535.0)
    assert any("16-bit" in note for note in notes)


def test_alpha_is_dropped_with_a_note(tmp_path, capsys):
    path = tmp_path / "rgba.png"
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    Image.fromarray(rgba).save(path)
    notes: list[str] = []
    pixels = inputs.read_image(path, notes)
    assert np.allclose(pixels[..., 0], 200 / 255) and "alpha" in notes[0]


def test_a_huge_image_is_refused_before_its_pixels_are_decoded(tmp_path, capsys):
    path = tmp_path / "huge.png"
    Image.new("1", (5000, 4000)).save(path)
    start = time.perf_counter()
    assert cli.main(["compress", str(path), "-o", str(tmp_path / "h.cmb")]) == 2
    assert "over the limit" in capsys.readouterr().err and time.perf_counter() - start < 5.0


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        (np.array([0.5, 1.7, -0.2], np.float32), "beyond [-1, 1]"),
        (np.array([0.5, np.nan], np.float32), "NaN"),
        (np.zeros(0, np.int16), "no samples"),
    ],
)
def test_bad_float_or_empty_wavs_are_refused(tmp_path, capsys, samples, message):
    wavfile.write(tmp_path / "a.wav", 16_000, samples)
    out = tmp_path / "a.cmb"
    assert cli.main(["compress", str(tmp_path / "a.wav"), "-o", str(out)]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_an_out_of_range_seed_is_a_message(png, tmp_path, capsys):
    out = tmp_path / "s.cmb"
    args = ["compress", str(png), "-o", str(out), "--seed", str(2**64), "--preset", "tiny"]
    assert cli.main(args) == 2 and "seed" in capsys.readouterr().err and not out.exists()


def test_an_internal_error_is_one_line_and_debug_shows_the_traceback(png, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(codec, "compress", broken)
    args = ["compress", str(png), "-o", str(tmp_path / "x.cmb"), "--preset", "tiny"]
    assert cli.main(args) == 1
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["--debug", *args])


def test_compress_refuses_a_fit_that_would_not_fit_in_memory():
    prior = load_prior("kodak-learned-beta1e-08")
    batch = np.zeros((8, 512, 768, 3))
    with pytest.raises(InputError, match="GiB"):
        codec.compress(batch, prior, preset="fast")


class _NaNTarget:
    """A target whose density cannot be evaluated anywhere."""

    dim = 2

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        return np.full(x.shape[0], np.nan)


@pytest.mark.parametrize("name", ["mrc", "astar"])
def test_coders_refuse_targets_whose_density_is_nan_everywhere(name):
    p = rectools.DiagonalGaussian(np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="positive target density"):
        rectools.get_coder(name).encode(_NaNTarget(), p, seed=0, log2_num_candidates=6)


def test_output_files_get_the_usual_permissions(tmp_path):
    safeio.write_atomically(tmp_path / "f", b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o666 & ~umask
