# %% [markdown]
# # 4. A Bayesian INR on one CIFAR image
#
# *Runs in under a minute on a 2-core CPU.*
#
# [Download as a Jupyter notebook](04_bayesian_inr.ipynb)
#
# An implicit neural representation maps pixel coordinates to colours. COMBINER makes its
# weights random: a Gaussian per weight, fitted with the beta-ELBO (distortion + beta x KL).
# The KL of each weight is what it will cost to send. Here we fit one image and look at where
# the bits go (the paper's Figure 6).

# %%
import matplotlib.pyplot as plt
import torch

from combiner.codec import decode_values, psnr
from combiner.data import cifar10_samples
from combiner.figures import kl_heat_map
from combiner.fit import BlockPenalties, fit_posteriors
from combiner.inr import INRConfig, VariationalINR
from combiner.priors import LOG2E, gaussian_kl_nats, initial_prior
from combiner.signals import coordinate_grid, get_modality

image = cifar10_samples()[0][0]
config = INRConfig()  # 4 layers, 16 hidden, 32 Fourier features: 1,123 weights
coords = coordinate_grid((32, 32))[None]
values = torch.from_numpy(image.reshape(1, -1, 3)).float()
prior = initial_prior("isotropic", config.layer_of_param(), init_std=0.5)
net = VariationalINR(config, batch=1, init_variance=9e-6)
beta = 2e-6
stats = fit_posteriors(
    net,
    coords,
    values,
    prior,
    BlockPenalties.constant(config.num_params, 1, beta),
    steps=1500,
    lr=2e-3,
)
print(f"after fitting: MSE {stats['mse']:.5f}, KL {stats['kl_bits']:.0f} bits")

# %%
decoded = get_modality("image").output(
    decode_values(net.mean.detach().double().numpy()[0], config, (32, 32))
)
fig, axes = plt.subplots(1, 2, figsize=(6, 3))
axes[0].imshow(image)
axes[0].set_title("original")
axes[1].imshow(decoded)
axes[1].set_title(f"posterior mean, {psnr(image, decoded):.1f} dB")
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Where do the bits go?
# KL per weight, one panel per layer (outputs down, inputs across, biases in the last column),
# drawn by `combiner.figures.kl_heat_map`. Brighter means more bits.

# %%
kl = (
    gaussian_kl_nats(net.mean.detach().double(), net.std.detach().double(), prior.mean, prior.std)
    * LOG2E
)[0]
kl_heat_map(kl.numpy(), config)
plt.show()
