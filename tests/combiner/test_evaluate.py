"""The evaluation harness's building blocks against direct computations."""

import math

import numpy as np

from combiner import evaluate
from combiner.signals import get_modality


def test_psnr_of_mean_mse_matches_the_mse_of_the_pooled_errors():
    rng = np.random.default_rng(0)
    references = rng.uniform(size=(3, 4, 4, 3))
    decoded = [
        np.round(np.clip(r + rng.normal(0, s, r.shape), 0, 1) * 255)
        for r, s in zip(references, (0.01, 0.05, 0.2), strict=True)
    ]
    image = get_modality("image")
    psnrs = [image.psnr(r, d) for r, d in zip(references, decoded, strict=True)]
    mse = np.mean([np.mean((d / 255 - r) ** 2) for r, d in zip(references, decoded, strict=True)])
    assert math.isclose(evaluate.psnr_of_mean_mse(psnrs), 10 * math.log10(1 / mse))


def test_mp3_round_trip_is_aligned_and_rate_controlled():
    t = np.arange(16_000) / 16_000
    clip = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1234 * t)
    low, high = (evaluate.mp3_round_trip(clip, 16_000, kbps) for kbps in (16, 48))
    for kbps, (num_bytes, decoded) in zip((16, 48), (low, high), strict=True):
        assert decoded.shape == clip.shape and decoded.dtype == np.int16
        # One second of constant-bitrate MP3: the nominal rate plus at most a few frames.
        assert kbps <= 8 * num_bytes / 1000 < 1.3 * kbps
    audio = get_modality("audio", 16_000)
    psnr_low, psnr_high = (audio.psnr(clip[:, None], d[:, None]) for _, d in (low, high))
    # Misaligned output would be near 0 dB; aligned MP3 of two tones is far above.
    assert 30 < psnr_low < psnr_high


def test_audio_baselines_report_kbps_rows():
    clips = 0.2 * np.sin(np.linspace(0, 300, 8_000))[None]
    rows = evaluate.audio_baselines(clips, 16_000, bitrates_kbps=(24,))
    assert rows[0]["method"] == "MP3 (LAME)" and rows[0]["kbps"] > 24


def test_layer_panels_put_each_weight_at_its_place():
    from combiner.figures import layer_panels
    from combiner.inr import INRConfig

    config = INRConfig(hidden=4, layers=3, fourier=8)
    values = np.arange(config.num_params, dtype=np.float64)
    panels = layer_panels(values, config)
    assert [p.shape for p in panels] == [(o, i + 1) for i, o in config.layer_shapes]
    assert sum(p.size for p in panels) == config.num_params
    (w, b), (fan_in, fan_out) = config.layer_slices()[1], config.layer_shapes[1]
    # Output unit j's weight from input i, then its bias in the last column.
    assert panels[1][2, 3] == values[w][3 * fan_out + 2]
    assert panels[1][2, fan_in] == values[b][2]
