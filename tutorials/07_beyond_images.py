# %% [markdown]
# # 7. Beyond images: audio and arrays on the same grid
#
# *Runs in under a minute on a 2-core CPU.*
#
# [Download as a Jupyter notebook](07_beyond_images.ipynb)
#
# COMBINER never sees pixels or samples, only a grid of coordinates in $[-1, 1]^k$ and the
# values there. A *modality* (`combiner.signals`) says how a kind of signal maps to that grid and
# back, how distortion is measured and what the rate unit is. Here we take a synthetic
# "speech-like" clip and a 2-D field through the very same `train_prior` / `compress` /
# `decompress` calls. Sizes and schedules are tiny so that this runs in under a minute, so the
# rates below are far from what trained priors reach; real speech and Kodak-sized images, with
# MP3 and JPEG 2000 next to them, are in the how-to on large signals and the results page.

# %%
import matplotlib.pyplot as plt
import numpy as np

from combiner import codec, container
from combiner.signals import coordinate_grid, get_modality

print(coordinate_grid((3,)).squeeze(-1).tolist())  # a 1-axis grid: audio
print(coordinate_grid((2, 3)).tolist())  # a 2-axis grid: images and fields

# %% [markdown]
# ## Audio
# A modality checks and scales the data. Audio is mono, in $[-1, 1]$; PSNR is measured on that
# range (peak-to-peak 2, as COIN++ and COMBINER do) and the rate in kbit/s, so the sample rate
# travels in the file.

# %%
rate = 4_000
t = np.arange(400) / rate  # 0.1 s


def clip(f0: float, seed: int) -> np.ndarray:
    """A decaying two-partial tone with a little noise: a stand-in for a voiced sound."""
    noise = np.random.default_rng(seed).normal(0, 0.01, t.size)
    tone = np.sin(2 * np.pi * f0 * t) + 0.4 * np.sin(2 * np.pi * 2.5 * f0 * t)
    return 0.5 * np.exp(-8 * t) * tone + noise


train = np.stack([clip(f0, k) for k, f0 in enumerate((110, 130, 150, 170, 190))])
test = clip(140, 99)[None]
audio_prior = codec.train_prior(
    train, modality="audio", beta=3e-6, kappa=12, preset="tiny", lr=2e-3
)
schedule = codec.Preset(posterior_steps=400, finetune_steps=3, compile_loss=False)
(result,) = codec.compress(
    test, audio_prior, preset=schedule, modality_options={"sample_rate": rate}
)
print(f"{len(result.data)} bytes = {result.rate:.1f} {result.rate_unit}, {result.psnr_db:.1f} dB")
print(container.unpack(result.data)[0].modality_params, "<- the sample rate, in the file")
decoded = codec.decompress(result.data, audio_prior)
assert np.array_equal(decoded, result.reconstruction)

fig, ax = plt.subplots(figsize=(8, 2.5))
ax.plot(t, test[0], label="original", lw=1)
ax.plot(t, decoded[:, 0] / 32767, label="decoded (16-bit PCM)", lw=1)
ax.set(xlabel="seconds", ylabel="amplitude")
ax.legend()
plt.show()

# %% [markdown]
# ## Arrays
# Any float field on 1 to 3 axes goes through the `array` modality. Its values can have any
# scale: the modality maps the batch's range to $[-1, 1]$ for the network, and every file
# records that range (as two float32 numbers) so the decoder restores the original units.
# PSNR uses the range as its peak; the rate is in bits per value.

# %%
y, x = np.mgrid[0:32, 0:48] / 48.0


def field(phase: float) -> np.ndarray:
    """A smooth 'temperature map' in kelvin."""
    return 285.0 + 12.0 * np.sin(4 * x + phase) * np.cos(3 * y - phase)


fields = np.stack([field(p) for p in np.linspace(0, 2, 6)])[..., None]
field_prior = codec.train_prior(
    fields[1:], modality="array", beta=1e-5, kappa=12, preset="tiny", lr=2e-3
)
(result,) = codec.compress(fields[:1], field_prior, preset=schedule)
modality = get_modality("array", *container.unpack(result.data)[0].modality_params)
print(modality)
print(f"{len(result.data)} bytes = {result.rate:.2f} {result.rate_unit}, {result.psnr_db:.1f} dB")
decoded = codec.decompress(result.data, field_prior)
assert np.array_equal(decoded, result.reconstruction)

fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
panels = {"original": fields[0, ..., 0], "decoded": decoded[..., 0]}
for ax, (title, image) in zip(axes, panels.items(), strict=True):
    shown = ax.imshow(image, cmap="coolwarm", vmin=270, vmax=300)
    ax.set_title(f"{title} (K)")
    ax.axis("off")
fig.colorbar(shown, ax=axes)
plt.show()

# %% [markdown]
# ## What a modality refuses
# Bad input is an error message, never a half-written file.

# %%
for bad in (np.full((1, 4, 1), np.nan), np.zeros((1, 2, 2, 2, 2, 1))):
    try:
        get_modality("array").check(bad)
    except ValueError as err:
        print("refused:", err)
