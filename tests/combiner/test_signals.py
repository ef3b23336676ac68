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
