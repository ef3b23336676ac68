# %% [markdown]
# # 6. Progressive compression end to end
#
# *Runs in about a minute on a 2-core CPU.*
#
# [Download as a Jupyter notebook](06_progressive.ipynb)
#
# The full pipeline on real CIFAR-10 images with a shipped prior: fit posteriors (Algorithm 4
# keeps every block near kappa = 16 bits), code block after block with A*, fine-tune the rest,
# write real `.cmb` bytes, decode them. We use a short schedule so it runs in a minute; the
# `fast` and `paper` presets are much better.

# %%
import matplotlib.pyplot as plt
import numpy as np

from combiner import codec, container
from combiner.data import cifar10_samples
from combiner.shipped import available_priors, load_prior

print(available_priors())
prior = load_prior("cifar-learned-beta2e-05")
images = cifar10_samples()[0][:2]
schedule = codec.Preset(
    posterior_steps=300,
    finetune_steps=3,
    compile_loss=False,
)

# %% [markdown]
# ## Swapping backends and fine-tuning

# %%
runs = {}
for label, options in {
    "A*, fine-tuned": {"coder": "astar"},
    "A*, no fine-tuning": {"coder": "astar", "finetune": False},
    "MRC, fine-tuned": {"coder": "mrc"},
}.items():
    runs[label] = codec.compress(images, prior, preset=schedule, **options)
    r = runs[label]
    bpp, db = np.mean([x.bpp for x in r]), np.mean([x.psnr_db for x in r])
    print(f"{label:>20}: {bpp:.2f} bpp, {db:.2f} dB")

# %% [markdown]
# ## What is in a file, and does it decode to what the encoder said?

# %%
result = runs["A*, fine-tuned"][0]
header, payload = container.unpack(result.data)
print(header)
print(f"{len(result.data)} bytes: {len(payload)} of block indices, the rest header and checksum")
decoded = codec.decompress(result.data, prior)
print(
    "bit-identical to the encoder's reconstruction:", np.array_equal(decoded, result.reconstruction)
)

fig, axes = plt.subplots(1, 1 + len(runs), figsize=(10, 3))
axes[0].imshow(images[0])
axes[0].set_title("original")
for ax, (label, r) in zip(axes[1:], runs.items(), strict=False):
    ax.imshow(r[0].reconstruction)
    ax.set_title(f"{label}\n{r[0].bpp:.2f} bpp, {r[0].psnr_db:.1f} dB", fontsize=8)
for ax in axes:
    ax.axis("off")
plt.show()
