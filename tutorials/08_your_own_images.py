# %% [markdown]
# # 8. Your own images
#
# *Runs in about two minutes on a 2-core CPU.*
#
# [Download as a Jupyter notebook](08_your_own_images.ipynb)
#
# The path a user takes with their own pictures: compress one with a shipped prior from the
# command line, look inside the file, train a prior on a small folder of their own, and see
# which prior does better on an image neither has seen.
#
# Our stand-in for "your photos" is matplotlib's public-domain portrait of Grace Hopper: we cut
# it into 32x32 thumbnails (the shipped small-image prior was trained for CIFAR-sized images).
# Replace `photo` and `folder` with your own files to run the same steps on them.

# %%
import subprocess
import sys
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from combiner import codec

hopper = Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
hopper = hopper.convert("RGB").resize((128, 160), Image.LANCZOS)
pixels = np.asarray(hopper)
thumbs = [
    pixels[y : y + 32, x : x + 32] for y in range(0, 160 - 31, 32) for x in range(0, 128 - 31, 32)
]
folder = Path("my_thumbnails")
folder.mkdir(exist_ok=True)
for i, thumb in enumerate(thumbs[:-1]):  # the last thumbnail is held out
    Image.fromarray(thumb).save(folder / f"thumb{i:02d}.png")
photo = Path("held_out.png")
Image.fromarray(thumbs[-1]).save(photo)
print(f"{len(thumbs) - 1} training thumbnails in {folder}/, one held out: {photo}")


def combiner_cli(*args: str) -> str:
    """Run the `combiner` command line as a user would, and return what it prints."""
    done = subprocess.run(
        [sys.executable, "-m", "combiner", *args], capture_output=True, text=True, check=True
    )
    return done.stdout


# %% [markdown]
# ## 1. Compress with a shipped prior
# With no `--prior`, `combiner compress` picks the shipped prior for the image's kind and size
# (`combiner priors` lists them, with the rates they were measured at).

# %%
print(combiner_cli("compress", str(photo), "-o", "held_out.cmb", "--preset", "fast"))

# %% [markdown]
# ## 2. What is in the file?
# `combiner info` reads the header: format version, coder, index model, seed, the prior's hash.
# The shape and the number of blocks are not stored: they come from the prior, which `--prior`
# names (and checks the file against).

# %%
print(combiner_cli("info", "held_out.cmb", "--prior", "cifar-learned-beta2e-06"))
print(combiner_cli("decompress", "held_out.cmb", "-o", "held_out_decoded.png"))

# %% [markdown]
# ## 3. Train a prior on your own folder
# `combiner train-prior my_thumbnails/ -o mine.npz --beta 2e-6` does this with the `fast`
# schedule: the paper's 128 rounds of Algorithm 1, 12-17 minutes for 64 thumbnails on two
# cores. Here a much shorter schedule from Python keeps the tutorial quick (and costs rate:
# rounds matter more than images); the paper finds that even 16 training images give a good
# prior.

# %%
train = np.stack(
    [np.asarray(Image.open(p), dtype=np.float64) / 255.0 for p in sorted(folder.glob("*.png"))]
)
quick = codec.Preset(prior_epochs=6, prior_steps=60, prior_first_steps=150, compile_loss=False)
mine = codec.train_prior(train, beta=2e-6, preset=quick)
mine.save("mine.npz")
print(f"trained on {len(train)} thumbnails: {len(mine.blocks)} blocks of 16 bits")

# %% [markdown]
# ## 4. Which prior suits your images?
# Both priors compress the held-out thumbnail with the same schedule (a shorter one than
# `fast`, to keep the tutorial quick).

# %%
from combiner.shipped import load_prior  # noqa: E402

held_out = np.asarray(Image.open(photo), dtype=np.float64)[None] / 255.0
short = codec.Preset(posterior_steps=1500, finetune_steps=10, posterior_lr=1e-3, compile_loss=False)
results = {}
for label, prior in (
    ("shipped CIFAR prior", load_prior("cifar-learned-beta2e-06")),
    ("my prior", mine),
):
    results[label] = codec.compress(held_out, prior, preset=short)[0]
    r = results[label]
    print(f"{label:>20}: {len(r.data)} bytes, {r.bpp:.2f} bpp, {r.psnr_db:.2f} dB")

fig, axes = plt.subplots(1, 3, figsize=(8, 3))
axes[0].imshow(held_out[0])
axes[0].set_title("held out")
for ax, (label, r) in zip(axes[1:], results.items(), strict=True):
    ax.imshow(r.reconstruction)
    ax.set_title(f"{label}\n{r.bpp:.2f} bpp, {r.psnr_db:.1f} dB", fontsize=9)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# A prior trained on pictures like yours usually spends its bits where your pictures need them;
# with thumbnails from one photo, it knows that photo's colours and textures, and the shipped
# prior knows the wider world of small photos. Compare them at equal rate before choosing: a
# prior that spends more bits also buys more dB.
#
# ## Exercises
# 1. Train your prior at `beta=5e-6` and compare again: where do the two curves cross?
# 2. Compress `held_out.png` with `--coder mrc` and read `combiner info`: which index model
#    does the file use, and why?
#
# ### Solutions
# 1. A larger beta gives fewer blocks (a lower rate) and a lower PSNR; plot (bpp, dB) for both
#    priors at two betas each and compare at the same bpp.
# 2. `uniform`: MRC's index is uniform on $0..N-1$, so the prior's A*-fitted model would only
#    cost more; the file records the model so the decoder uses the same one.
