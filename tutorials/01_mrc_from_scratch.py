# %% [markdown]
# # 1. Sending a sample with MRC, from scratch
#
# *Runs in about 5 seconds on a 2-core CPU.*
#
# [Download as a Jupyter notebook](01_mrc_from_scratch.ipynb)
#
# Alice knows a distribution $q$; Bob knows only $p$. They share a seed. Alice wants Bob to end
# up with a *sample* of $q$. Minimal random coding (MRC) does it in about $D_{KL}(q\|p)$ bits:
# both draw the same $N$ candidates from $p$; Alice picks one at random with probability
# proportional to $q/p$ and sends its index.
#
# We first write MRC in ten lines of NumPy for 1-D Gaussians, then compare with rectools.

# %%
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

import rectools

p_mean, p_std = 0.0, 1.0
q_mean, q_std = 1.0, 0.3
kl_nats = np.log(p_std / q_std) + (q_std**2 + (q_mean - p_mean) ** 2) / (2 * p_std**2) - 0.5
kl_bits = kl_nats / np.log(2)
print(f"KL(q||p) = {kl_bits:.2f} bits")

# %% [markdown]
# ## MRC by hand
# The shared candidates come from a generator seeded with the shared seed; Alice's categorical
# draw uses her *own* generator, which Bob never needs.


# %%
def mrc_encode(seed, n, private_rng):
    candidates = np.random.default_rng(seed).normal(p_mean, p_std, n)  # shared
    log_w = stats.norm.logpdf(candidates, q_mean, q_std) - stats.norm.logpdf(
        candidates, p_mean, p_std
    )
    probs = np.exp(log_w - log_w.max())
    return private_rng.choice(n, p=probs / probs.sum())


def mrc_decode(seed, n, index):
    return np.random.default_rng(seed).normal(p_mean, p_std, n)[index]


n = int(np.ceil(2 ** (kl_bits + 4)))  # t = 4 bits of oversampling
alice = np.random.default_rng(0)
samples = np.array([mrc_decode(s, n, mrc_encode(s, n, alice)) for s in range(2000)])
print(f"N = {n} candidates, so each index costs log2 N = {np.log2(n):.2f} bits")

# %% [markdown]
# ## Does Bob's sample follow q?

# %%
grid = np.linspace(-1, 3, 400)
plt.hist(samples, bins=50, density=True, alpha=0.5, label="Bob's samples (MRC)")
plt.plot(grid, stats.norm.pdf(grid, q_mean, q_std), label="target q")
plt.plot(grid, stats.norm.pdf(grid, p_mean, p_std), label="proposal p")
plt.legend()
plt.title("MRC sends samples of q")
plt.show()
print("KS test p-value against q:", stats.kstest(samples, stats.norm(q_mean, q_std).cdf).pvalue)

# %% [markdown]
# ## The same with rectools
# rectools does this with a counter-based candidate stream: candidate $i$ is a pure function of
# (seed, i), so Bob regenerates only the one he needs.

# %%
p = rectools.DiagonalGaussian(np.array([p_mean]), np.array([p_std]))
q = rectools.DiagonalGaussian(np.array([q_mean]), np.array([q_std]))
coder = rectools.get_coder("mrc", t=4.0)
res = coder.encode(q, p, seed=7)
bob = coder.decode(res.index, p, seed=7, num_candidates=res.num_candidates)
print(res.index, res.num_candidates, bob, np.array_equal(bob, res.sample))

# %% [markdown]
# ## How many candidates are enough?
# With too few candidates, the sample is pulled towards $p$. The KS statistic against $q$
# falls as the oversampling $t$ grows.

# %%
ts = [-2.0, 0.0, 2.0, 4.0]
ks = []
for t in ts:
    log2_n = max(kl_bits + t, 0.0)
    s = rectools.diagnostics.coder_samples(coder, q, p, range(800), log2_num_candidates=log2_n)
    ks.append(rectools.diagnostics.ks_statistic_1d(s, lambda x: q.marginal_cdf(x, 0))[0])
plt.plot(ts, ks, marker="o")
plt.xlabel("t = log2 N - KL (bits)")
plt.ylabel("KS statistic vs q")
plt.title("More candidates, closer to q")
plt.show()

# %% [markdown]
# ## Exercises
# 1. The decoder only needs the seed and the index. Decode one index with a *different* seed:
#    what do you get, and why is that not an error the decoder can detect?
# 2. Run MRC with $t = -2$ (fewer candidates than $2^{KL}$) many times and plot the histogram
#    of the sent samples next to $q$ and $p$. Where does the histogram sit?
# 3. Double the dimension $d$ while keeping each coordinate's $q$ and $p$. How does the KL,
#    and hence the number of candidates MRC needs, grow?
#
# ### Solutions
# 1. Another valid-looking sample of $p$: the candidate with that number in another stream.
#    Nothing in the index says which seed made it, which is why COMBINER's files carry the
#    seed and a hash of the prior.
# 2. Between $p$ and $q$: with too few candidates the best importance weight is often a
#    candidate from $p$'s bulk, so the sent law is pulled towards $p$ (the KS statistic above).
# 3. KL adds up over independent coordinates, so it doubles, and $N \approx 2^{KL}$ squares:
#    this is why COMBINER codes its weights in blocks of about 16 bits.
