"""Modalities through one coordinate-grid API: audio end to end, grids, rates and refusals."""

import numpy as np
import pytest

from combiner import codec, container
from combiner.signals import coordinate_grid, get_modality


def test_coordinate_grid_spans_the_cube_row_major():
    grid = coordinate_grid((2, 3)).numpy()
    assert grid.shape == (6, 2)
    np.testing.assert_array_equal(grid[0], [-1, -1])
    np.testing.assert_array_equal(grid[2], [-1, 1])
    np.testing.assert_array_equal(grid[-1], [1, 1])
    assert coordinate_grid((5,)).shape == (5, 1)


@pytest.fixture(scope="module")
def clips():
    t = np.linspace(0, 1, 64)
    return np.stack([0.5 * np.sin(2 * np.pi * f * t) for f in (2, 3, 5)])


def test_audio_round_trip_with_kbps(clips):
    prior = codec.train_prior(clips, modality="audio", preset="tiny", beta=1e-4, kappa=8)
    assert prior.config.coord_dim == 1 and prior.config.out_dim == 1
    results = codec.compress(
        clips[:1], prior, preset="tiny", modality_options={"sample_rate": 8000}
    )
    result = results[0]
    assert result.reconstruction.dtype == np.int16 and result.reconstruction.shape == (64, 1)
    assert result.rate_unit == "kbps"
    # 64 samples at 8 kHz last 8 ms: rate = bits / 8 ms.
    assert result.rate == pytest.approx(8 * len(result.data) / 0.008 / 1000)
    header, _ = container.unpack(result.data)
    assert header.modality == "audio" and header.modality_params == (8000,)
    assert np.array_equal(codec.decompress(result.data, prior), result.reconstruction)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((1, 64, 2)), "mono"),
        (np.full((1, 64), 1.5), r"\[-1, 1\]"),
        (np.full((1, 64), np.nan), "NaN"),
        (np.zeros((1, 4, 4, 4, 1)), "mono"),
    ],
)
def test_bad_audio_is_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        get_modality("audio").check(bad)


def test_image_prior_refuses_audio_and_vice_versa(clips):
    audio_prior = codec.train_prior(clips, modality="audio", preset="tiny", beta=1e-4, kappa=8)
    with pytest.raises(ValueError, match="mono"):
        codec.compress(np.zeros((1, 8, 8, 3)), audio_prior, preset="tiny")
    with pytest.raises(ValueError, match="modality"):
        get_modality("video")


def test_paper_networks_have_the_papers_parameter_counts():
    from combiner.inr import AUDIO_NET, CIFAR_NET, KODAK_LARGE_NET, KODAK_SMALL_NET

    counts = [n.num_params for n in (CIFAR_NET, KODAK_SMALL_NET, KODAK_LARGE_NET, AUDIO_NET)]
    # The paper lists 12,675 for audio too; with one output channel instead of three the same
    # 6/48/64 network has 98 fewer weights.
    assert counts == [1123, 12675, 21563, 12577]


def test_chunked_decoding_matches_one_pass():
    from combiner.inr import KODAK_SMALL_NET

    weights = np.random.default_rng(0).normal(0, 0.05, KODAK_SMALL_NET.num_params)
    whole = codec.decode_values(weights, KODAK_SMALL_NET, (48, 40), chunk_points=10**9)
    chunked = codec.decode_values(weights, KODAK_SMALL_NET, (48, 40), chunk_points=333)
    # SIREN layers (sin(30 x)) amplify last-bit differences of BLAS blocking to ~1e-11.
    np.testing.assert_allclose(whole, chunked, rtol=1e-8, atol=1e-10)


def test_training_on_a_quarter_of_the_points(clips):
    preset = codec.Preset(
        prior_epochs=1,
        prior_steps=5,
        prior_first_steps=5,
        posterior_steps=5,
        finetune_steps=1,
        compile_loss=False,
        point_fraction=0.25,
    )
    prior = codec.train_prior(clips, modality="audio", preset=preset, beta=1e-4, kappa=8)
    result = codec.compress(clips[:1], prior, preset=preset)[0]
    assert np.array_equal(codec.decompress(result.data, prior), result.reconstruction)


@pytest.mark.parametrize("grid", [(40,), (6, 7), (3, 4, 5)])
def test_array_round_trip_on_one_to_three_axes(grid):
    rng = np.random.default_rng(len(grid))
    axes = np.meshgrid(*[np.linspace(0, 1, n) for n in grid], indexing="ij")
    fields = np.stack([100.0 + 40.0 * np.sin(3 * sum(axes) + k) for k in range(3)])[..., None]
    fields += rng.normal(0, 0.5, fields.shape)
    prior = codec.train_prior(fields, modality="array", preset="tiny", beta=1e-4, kappa=8)
    assert prior.config.coord_dim == len(grid)
    result = codec.compress(fields[:1], prior, preset="tiny")[0]
    assert result.reconstruction.dtype == np.float32 and result.reconstruction.shape == (
        *grid,
        1,
    )
    assert result.rate_unit == "bits per value"
    assert result.rate == pytest.approx(8 * len(result.data) / np.prod(grid))
    header, _ = container.unpack(result.data)
    recorded = get_modality("array", *header.modality_params)
    assert header.modality == "array"
    assert recorded.low <= fields[0].min() and recorded.high >= fields[0].max()
    assert np.array_equal(codec.decompress(result.data, prior), result.reconstruction)
    # The reconstruction lives on the data's scale, inside the recorded range.
    assert (
        recorded.low <= result.reconstruction.min() <= result.reconstruction.max() <= recorded.high
    )
    assert 50.0 < result.reconstruction.mean() < 150.0


def test_array_range_and_psnr_use_the_recorded_scale():
    field = get_modality("array")
    values = field.check(np.array([[[-2.0], [0.0], [6.0]]]))
    assert values.min() >= -1.0 and values.max() <= 1.0
    rebuilt = get_modality("array", *field.params)
    assert (rebuilt.low, rebuilt.high) == (field.low, field.high)
    decoded = rebuilt.output(values[0])
    np.testing.assert_allclose(decoded[:, 0], [-2.0, 0.0, 6.0], rtol=1e-6)
    # An error of 0.08 on a range of 8 is 1% of the peak: 40 dB.
    assert rebuilt.psnr(values[0], decoded + 0.08) == pytest.approx(40.0, abs=0.01)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((1, 2, 2, 2, 2, 1)), "1 to 3 grid axes"),
        (np.zeros((1, 5)), "1 to 3 grid axes"),
        (np.array([[[1.0], [np.nan]]]), "NaN"),
        (np.array([[[1.0], [np.inf]]]), "infinite"),
    ],
)
def test_bad_arrays_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        get_modality("array").check(bad)


def test_array_modality_refuses_data_outside_a_given_range():
    with pytest.raises(ValueError, match="must lie in"):
        get_modality("array", low=0.0, high=1.0).check(np.full((1, 3, 1), 2.0))
    with pytest.raises(ValueError, match="low < high"):
        get_modality("array", low=1.0, high=1.0)
