# %% [markdown]
# # 2. A* coding from scratch
#
# *Runs in about 10 seconds on a 2-core CPU.*
#
# [Download as a Jupyter notebook](02_astar_coding.ipynb)
#
# MRC (tutorial 1) draws its index from the categorical of the importance weights
# $w_i = q(x_i)/p(x_i)$, which puts the index anywhere in $1..N$: it costs $\log_2 N$ bits.
# A* coding [(Flamich et al., 2022)](../../references/) picks the candidate with the largest
# *perturbed* log weight $\log w_i + G_i$, where the perturbations $G_1 > G_2 > \dots$ come
# from the **truncated-Gumbel recursion**: $G_1 \sim \mathrm{Gumbel}(0)$ and
# $G_i \sim \mathrm{TruncGumbel}(G_{i-1})$, a Gumbel conditioned to lie below the previous one.
# Early candidates carry the biggest perturbations, so they usually win: the index is small,
# and an index model that knows this codes it in fewer than $\log_2 N$ bits.
#
# A neat way to draw the recursion: with $E_1, E_2, \dots$ independent unit exponentials,
# $G_i = -\log(E_1 + \dots + E_i)$ (the arrival times of a Poisson process, in log scale).
#
# ## A* in a dozen lines of NumPy
# The *global bound* $M \ge \log w(x)$ for all $x$ (finite when $q$ is narrower than $p$) gives
# **early stopping**: all later perturbations are below $G_i$, so once $G_i + M$ is below the
# best score so far no later candidate can win.

# %%
import matplotlib.pyplot as plt
import numpy as np

import rectools


def astar(log_weights, rng, bound=np.inf):
    """Depth-limited, global-bound A*: (chosen index, candidates examined, trace of scores)."""
    best, best_score, arrivals, scores = 0, -np.inf, 0.0, []
    for i, log_w in enumerate(log_weights):
        arrivals += rng.exponential()
        gumbel = -np.log(arrivals)  # G_i ~ TruncGumbel(G_{i-1}), G_1 ~ Gumbel(0)
        if gumbel + bound < best_score:  # no later candidate can beat the best: stop
            return best, i, np.array(scores)
        scores.append(gumbel + log_w)
        if scores[-1] > best_score:
            best, best_score = i, scores[-1]
    return best, len(log_weights), np.array(scores)


# %% [markdown]
# ## Is it right? Check against rectools' exact output law
# For a categorical target the law of A*'s output is known exactly
# (`rectools.AStarCoder.categorical_output_law`). We run our dozen lines many times on a
# 5-category pair and compare frequencies; rectools' own coder runs the same experiment.

# %%
q_probs = np.array([0.5, 0.25, 0.15, 0.07, 0.03])
p_probs = np.full(5, 0.2)
n_small = 8
exact = rectools.AStarCoder.categorical_output_law(q_probs, p_probs, n_small)
rng = np.random.default_rng(0)
runs = 20_000
ours = np.zeros(5)
for _ in range(runs):
    categories = rng.choice(5, size=n_small, p=p_probs)  # N candidates from the proposal
    index, _, _ = astar(np.log(q_probs[categories] / p_probs[categories]), rng)
    ours[categories[index]] += 1
ours /= runs
q_cat, p_cat = rectools.Categorical(q_probs), rectools.Categorical(p_probs)
coder = rectools.get_coder("astar")
library = (
    np.bincount(
        [
            int(coder.encode(q_cat, p_cat, seed=s, log2_num_candidates=3).sample[0])
            for s in range(4_000)
        ],
        minlength=5,
    )
    / 4_000
)
print("exact law   ", np.round(exact, 4))
print("from scratch", np.round(ours, 4))
print("rectools    ", np.round(library, 4))
print("target q    ", q_probs)
tv_ours = 0.5 * np.abs(ours - exact).sum()
print(f"TV(from scratch, exact) = {tv_ours:.4f}")

# %% [markdown]
# Both follow the exact law (their distance to it is sampling noise); note that at $N = 8$
# the law is *not* q: A*'s output approaches q only as $N$ grows past $2^{KL}$.
#
# ## One search, drawn
# A $d = 4$ Gaussian pair: proposal $p = \mathcal N(0, I)$, target $q = \mathcal N(m, 0.5^2 I)$
# with $m$ chosen for a KL of 8 bits, and $N = 2^{KL + 4}$ candidates.

# %%
d, sigma = 4, 0.5
kl_target_bits = 8.0
# Per dimension KL(N(m, s^2) || N(0, 1)) = (s^2 + m^2 - 1) / 2 - log s nats; solve for m.
m = np.sqrt(2 * (kl_target_bits * np.log(2) / d + np.log(sigma)) + 1 - sigma**2)
p = rectools.DiagonalGaussian(np.zeros(d), np.ones(d))
q = rectools.DiagonalGaussian(np.full(d, m), np.full(d, sigma))
kl = rectools.kl_bits(q, p)
n = int(np.ceil(2 ** (kl + 4)))
bound = rectools.log_ratio_bound(q, p)
rng = np.random.default_rng(3)
candidates = rng.standard_normal((n, d))
log_w = q.log_prob(candidates) - p.log_prob(candidates)
gumbel_state = rng.bit_generator.state  # replay the same Gumbels without the bound
index, examined, scores = astar(log_w, rng, bound)
rng.bit_generator.state = gumbel_state
full_index, _, _ = astar(log_w, rng)
print(f"KL = {kl:.2f} bits, N = {n}, bound M = {bound:.2f} nats")
print(f"chosen index {index}; examined {examined} of {n} candidates")
print(f"the full search over all {n} picks the same index: {full_index == index}")

# %%
steps = np.arange(1, len(scores) + 1)
gumbels = scores - log_w[: len(scores)]
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(steps, scores, ".", markersize=3, label="score  log w_i + G_i")
ax.plot(steps, np.maximum.accumulate(scores), "-", label="best score so far")
ax.plot(steps, gumbels + bound, "--", label="G_i + M: no later score can exceed it")
ax.axvline(index + 1, color="k", linewidth=0.8, label=f"chosen: {index}")
ax.axvline(examined, color="r", linewidth=0.8, label=f"stop after {examined}")
ax.set(xscale="log", xlabel="candidate i", ylabel="nats", title="One A* search")
ax.set_ylim(np.min(np.maximum.accumulate(scores)) - 6, np.max(gumbels + bound) + 1)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The dashed line is the bound on everything still to come; it falls like $-\log i$. Where it
# crosses the best score, the search is over: the rest of the $N$ candidates need not even be
# drawn. rectools does the same, with a Philox candidate stream shared with the decoder:

# %%
fast = rectools.get_coder("astar", t=4.0)
full = rectools.get_coder("astar", t=4.0, early_stopping=False)
same = all(fast.encode(q, p, seed=s).index == full.encode(q, p, seed=s).index for s in range(100))
examined = np.mean([fast.encode(q, p, seed=s).num_examined for s in range(100)])
print(f"early stop = full search in 100 of 100 seeds: {same}")
print(f"mean candidates examined: {examined:.0f} of {n}")

# %% [markdown]
# ## What the index costs
# Each coder declares the index model that suits it (`coder.index_model`): A*'s favours small
# indices and is fitted on training indices; MRC's index is uniform on $0..N-1$. Each coder is
# measured with **its own** model, on seeds it was not fitted on.

# %%
bits = {}
for name in ("astar", "mrc"):
    coder = rectools.get_coder(name, t=4.0)
    indices = np.array([coder.encode(q, p, seed=s).index for s in range(600)])
    model = rectools.fit_index_model(coder.index_model, indices[:300], n)
    bits[name] = float(np.mean(model.bits(indices[300:])))
    print(f"{name:>5}: {bits[name]:.2f} bits per index with its {coder.index_model!r} model")
print(
    f"KL = {kl:.2f} bits, log2 N = {np.log2(n):.2f}, "
    f"KL + log2(KL + 1) + 1 = {rectools.ideal_bits_per_index(kl):.2f}"
)
saved = bits["mrc"] - bits["astar"]
print(f"A* saves {saved:.2f} bits per index here ({100 * saved / bits['mrc']:.0f}%)")

# %% [markdown]
# A* pays about the KL plus a little; MRC pays $\log_2 N$, which grows with the oversampling
# $t$. That is why COMBINER uses A* with an index model fitted on training data.
#
# ## Exercises
# 1. Set $t = 0$ (so $N \approx 2^{KL}$) and compare both coders' bits again. Why does the gap
#    shrink?
# 2. Make $q$ *wider* than $p$ in one dimension. What happens to `log_ratio_bound`, and to the
#    number of candidates examined?
# 3. Replace `rng.exponential()` in `astar` by plain independent Gumbels
#    (`-np.log(rng.exponential())`). Which property is lost?
#
# ### Solutions
# 1. With $N = 2^{KL}$ MRC's $\log_2 N$ is already close to the KL; A*'s advantage is that
#    its cost does not grow with $t$, so the gap is largest when $N \gg 2^{KL}$.
# 2. The bound becomes infinite (the ratio $q/p$ is unbounded), so A* must scan all $N$
#    candidates: `num_examined == N`. The output is still correct, only slower.
# 3. Independent Gumbels turn A* into the Gumbel-max trick over $N$ samples, i.e. MRC: the
#    index is no longer small, and there is no ordering to stop early on.
