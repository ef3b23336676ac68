# %% [markdown]
# # 2. A* coding, the Gumbel trick and cheap indices
#
# The Gumbel-max trick: adding independent Gumbel noise to log weights and taking the argmax
# samples the categorical of the weights. A* coding uses a *descending* sequence of Gumbels
# instead (each truncated below the previous one), so early candidates carry the biggest
# perturbations and usually win. Two gifts follow: small indices (cheap to send) and, when
# $\log q/p$ is bounded, a search that can stop early.

# %%
import matplotlib.pyplot as plt
import numpy as np

import rectools

rng = np.random.default_rng(0)
exponentials = rng.exponential(size=20)
gumbels = -np.log(np.cumsum(exponentials))  # G_i ~ TruncGumbel(G_{i-1}), G_1 ~ Gumbel(0)
plt.plot(gumbels, marker="o")
plt.xlabel("candidate i")
plt.ylabel("G_i")
plt.title("A*'s Gumbels only go down")
plt.show()

# %% [markdown]
# ## Where does the index land?
# A $d = 4$ Gaussian pair with $KL \approx 8$ bits, coded with A* and with MRC, both with
# $N = 2^{KL + 4}$ candidates.

# %%
p = rectools.DiagonalGaussian(np.zeros(4), np.ones(4))
q = rectools.DiagonalGaussian(np.full(4, 1.2), np.full(4, 0.5))
kl = rectools.kl_bits(q, p)
indices = {}
for name in ("astar", "mrc"):
    coder = rectools.get_coder(name, t=4.0)
    indices[name] = np.array([coder.encode(q, p, seed=s).index for s in range(400)])
n = coder.encode(q, p, seed=0).num_candidates
bins = np.logspace(0, np.log10(n), 30)
for name, idx in indices.items():
    plt.hist(idx + 1, bins=bins, alpha=0.5, label=name)
plt.xscale("log")
plt.axvline(2**kl, color="k", linestyle="--", label="2^KL")
plt.xlabel("index + 1")
plt.legend()
plt.title(f"KL = {kl:.1f} bits, N = {n}")
plt.show()

# %% [markdown]
# A*'s indices pile up around $2^{KL}$, MRC's are uniform up to $N$. An index model fitted
# on training indices turns that into bits:

# %%
for name, idx in indices.items():
    model = rectools.fit_index_model(
        coder.index_model if name == "astar" else "uniform", idx[:200], n
    )
    print(
        f"{name:>5}: {np.mean(model.bits(idx[200:])):.2f} bits per index "
        f"(KL = {kl:.2f}, log2 N = {np.log2(n):.2f}, KL + log2(KL+1) + 1 = "
        f"{rectools.ideal_bits_per_index(kl):.2f})"
    )

# %% [markdown]
# ## Early stopping is exact
# With $q$ narrower than $p$, $\log q/p$ is bounded by $M$. Once $G_i + M$ is below the best
# score so far, no later candidate can win: the search stops, returning exactly the index
# the full search would.

# %%
fast = rectools.get_coder("astar", t=4.0)
full = rectools.get_coder("astar", t=4.0, early_stopping=False)
same = all(fast.encode(q, p, seed=s).index == full.encode(q, p, seed=s).index for s in range(100))
examined = np.mean([fast.encode(q, p, seed=s).num_examined for s in range(100)])
print(f"same index in 100/100: {same}; mean candidates examined {examined:.0f} of {n}")
