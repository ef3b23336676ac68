"""Why COMBINER trails COIN++ on CIFAR-10: candidate causes changed one at a time, measured.

Every variant differs from ``baseline`` in exactly one thing (``shipped`` is the prior shipped
when the study began, trained with a longer recipe, for reference). It trains its own prior (unless
it only changes encoding), compresses the 20 bundled CIFAR-10 test images at one beta and logs
one row to ``benchmarks/out/cifar_ablation.jsonl``:

* the rate three ways: whole ``.cmb`` files, 16 bits per block (the paper's accounting) and the
  fitted KL, all in bits per pixel, plus what the indices would cost under an index model
  fitted leave-one-out on the other images' indices (``bpp_index_model``);
* PSNR of the coded files, of the fitted posterior's mean (what fitting alone reaches) and of
  one exact posterior sample (the paper's "theoretically optimal" point, Figure 4).

Run ``python benchmarks/cifar_ablation.py --list`` for the variants, then e.g.::

    python benchmarks/cifar_ablation.py --beta 2e-6 baseline freq-1024 prior-init-siren

``report`` rebuilds ``benchmarks/out/cifar_ablation.md`` from the log. Priors are cached in
``benchmarks/out/ablation_priors/``. The ``oracle`` variant trains on the evaluation images
themselves: an upper bound for "better prior data", never shipped.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import rectools
from combiner import codec, container
from combiner.data import cifar10_samples, cifar100_samples
from combiner.evaluate import psnr_of_mean_mse
from combiner.inr import CIFAR_NET

OUT = Path(__file__).resolve().parent / "out"
LOG = OUT / "cifar_ablation.jsonl"
PRIORS = OUT / "ablation_priors"
#: The default prior as this study found it (32 epochs on 199 images), kept so that its files
#: decode; the variants measured against it keep using it after the 128-epoch retraining.
STUDY_PRIOR = str(
    Path(__file__).resolve().parent.parent / "combiner/priors/previous/cifar-learned-beta2e-06.npz"
)


#: ``fast`` before it coded the blocks hardest first: in partition order, as the paper.
FAST_IN_ORDER = replace(codec.PRESETS["fast"], block_order="partition")
#: ``fast`` before its fitting steps grew with the number of blocks: 3,000 at every rate.
FAST_3K = replace(FAST_IN_ORDER, posterior_steps_per_block=0)
#: The posterior schedule every variant starts from: the ``fast`` preset as it was before this
#: study (a fresh Adam at every fine-tuning block).
FAST = replace(FAST_3K, persistent_finetune_optimizer=False)


@dataclass(frozen=True)
class Variant:
    """One experiment: how its prior is trained and how the test images are encoded."""

    doc: str
    net: dict = field(default_factory=dict)
    prior_init_scale: float | None = None
    data: str = "crops"
    #: A CPU-sized recipe shared by every variant: 16 epochs on 64 training images (the
    #: shipped priors: 32 epochs on 199); the paper finds 16 images already enough (F.1).
    prior_epochs: int = 16
    train_images: int = 64
    init_variance: float = 9e-6
    posterior: codec.Preset = FAST
    #: A shipped prior (or a prior file) instead of training one; ``{beta}`` stands for the
    #: run's beta.
    prior_name: str | None = None
    coder: str = "astar"


def shipped(doc: str, posterior: codec.Preset, coder: str = "astar") -> Variant:
    """A variant that encodes with the shipped prior at the run's beta."""
    return Variant(doc, prior_name="cifar-learned-beta{beta}", posterior=posterior, coder=coder)


VARIANTS = {
    "shipped-persistent-adam": Variant(
        "the study's shipped prior, one Adam kept through all fine-tuning (reference code)",
        prior_name=STUDY_PRIOR,
        posterior=replace(FAST, persistent_finetune_optimizer=True),
    ),
    "shipped": Variant(
        "the shipped prior when the study began (199 crops, 32 epochs)",
        prior_name=STUDY_PRIOR,
    ),
    "baseline": Variant("today's recipe, prior retrained here"),
    "freq-1024": Variant(
        "Fourier features up to 1024 (reference code) instead of 16", net={"max_frequency": 1024.0}
    ),
    "prior-init-siren": Variant(
        "prior std starts at half the SIREN bound, not 0.1", prior_init_scale=0.5
    ),
    "data-downsampled": Variant(
        "prior data: whole photos downsampled to 32x32 (as CIFAR)", data="downsampled"
    ),
    "oracle": Variant(
        "prior trained on the 20 evaluation images (upper bound, never shipped)", data="oracle"
    ),
    "epochs-48": Variant("48 prior epochs instead of 16", prior_epochs=48),
    "epochs-128": Variant("128 prior epochs instead of 16 (the paper's)", prior_epochs=128),
    "images-199": Variant("all 199 training images instead of 64", train_images=199),
    "posterior-paper": Variant(
        "shipped prior; posterior: 25,000 steps at lr 2e-4 (paper), not 3,000 at 1e-3",
        posterior=replace(
            codec.PRESETS["paper"], persistent_finetune_optimizer=False, block_order="partition"
        ),
        prior_name=STUDY_PRIOR,
    ),
    "posterior-10k": Variant(
        "shipped prior; posterior: 10,000 steps at lr 1e-3 instead of 3,000",
        posterior=replace(FAST, posterior_steps=10_000),
        prior_name=STUDY_PRIOR,
    ),
    "shipped-lr-halving": Variant(
        "the study's shipped prior, posterior learning rate halved after 80% of the steps",
        prior_name=STUDY_PRIOR,
        posterior=replace(FAST, lr_halving_at=0.8),
    ),
    "persistent-finetune-40": Variant(
        "shipped prior; one Adam through fine-tuning and 40 steps per block instead of 15",
        prior_name=STUDY_PRIOR,
        posterior=replace(FAST, persistent_finetune_optimizer=True, finetune_steps=40),
    ),
    "persistent-finetune-30": Variant(
        "shipped prior; one Adam through fine-tuning and 30 steps per block instead of 15",
        prior_name=STUDY_PRIOR,
        posterior=replace(FAST, persistent_finetune_optimizer=True, finetune_steps=30),
    ),
    "persistent-finetune-30-5k": Variant(
        "shipped prior; one Adam through 30 fine-tuning steps per block; 5,000 posterior steps",
        prior_name=STUDY_PRIOR,
        posterior=replace(
            FAST, persistent_finetune_optimizer=True, finetune_steps=30, posterior_steps=5_000
        ),
    ),
    "shipped-fast": shipped(
        "the shipped prior at this beta and the fast preset with 3,000 posterior steps (A*)",
        FAST_3K,
    ),
    "greedy": shipped(
        "shipped-fast, but each block sends its candidate of largest log q/p (uniform index)",
        FAST_3K,
        coder="greedy",
    ),
    "greedy-finetune-15": shipped(
        "greedy with 15 fine-tuning steps per block instead of 30 (half the fine-tuning time)",
        replace(FAST_3K, finetune_steps=15),
        coder="greedy",
    ),
    "greedy-finetune-15-2k": shipped(
        "greedy, 15 fine-tuning steps per block and 2,000 posterior steps (4,000 steps in all "
        "at beta 2e-6 instead of 7,000)",
        replace(FAST_3K, finetune_steps=15, posterior_steps=2_000),
        coder="greedy",
    ),
    "shipped-fast-6k": shipped(
        "shipped-fast with 6,000 posterior steps instead of 3,000 (Algorithm 4's penalties "
        "get twice the steps to hold every block to kappa)",
        replace(FAST_3K, posterior_steps=6_000),
    ),
    "fast-steps-per-block": shipped(
        "the shipped prior and today's fast preset: 30 posterior steps per block, between "
        "3,000 and 6,000",
        FAST_IN_ORDER,
    ),
    "fast-finetune-45": shipped(
        "today's fast preset with 45 fine-tuning steps per block instead of 30",
        replace(FAST_IN_ORDER, finetune_steps=45),
    ),
    "fast-steps-8k": shipped(
        "today's fast preset with up to 8,000 posterior steps (32 per block) instead of 6,000",
        replace(FAST_IN_ORDER, posterior_steps_per_block=32, max_posterior_steps=8_000),
    ),
    "fast-steps-16k": shipped(
        "today's fast preset with up to 16,000 posterior steps (64 per block) instead of 6,000",
        replace(FAST_IN_ORDER, posterior_steps_per_block=64, max_posterior_steps=16_000),
    ),
    "shipped-fast-10k": shipped(
        "shipped-fast with 10,000 posterior steps instead of 3,000",
        replace(FAST_3K, posterior_steps=10_000),
    ),
    "shipped-fast-4.3k": shipped(
        "shipped-fast with 4,344 posterior steps instead of 3,000 (24 per block at beta 1e-6)",
        replace(FAST_3K, posterior_steps=4_344),
    ),
    "penalty-floor-0.25": shipped(
        "shipped-fast, Algorithm 4's penalties never below beta/4 (they fall to ~1% of beta "
        "while a 3,000-step fit's KL is still rising, and blocks end over budget)",
        replace(FAST_3K, penalty_floor=0.25),
    ),
    "penalty-floor-0.25-6k": shipped(
        "penalty-floor-0.25 with 6,000 posterior steps instead of 3,000",
        replace(FAST_3K, penalty_floor=0.25, posterior_steps=6_000),
    ),
    "hardest-first": shipped(
        "fast-steps-per-block, coding each image's blocks hardest first (largest second-order "
        "estimate of the squared error their coding adds, re-estimated after every block) "
        "instead of in partition order: today's fast",
        codec.PRESETS["fast"],
    ),
    "hardest-first-finetune-60": shipped(
        "hardest-first with 60 fine-tuning steps per block instead of 30",
        replace(codec.PRESETS["fast"], finetune_steps=60),
    ),
    "hardest-first-6k": shipped(
        "hardest-first with at least 6,000 posterior steps instead of 3,000 (the low rates, "
        "whose 46-69 blocks get 3,000 in fast)",
        replace(codec.PRESETS["fast"], posterior_steps=6_000),
    ),
    "hardest-first-floor-0.25": shipped(
        "hardest-first with Algorithm 4's penalties never below beta/4 (fewer blocks over "
        "their 16-bit budget when coded)",
        replace(codec.PRESETS["fast"], penalty_floor=0.25),
    ),
    "hardest-first-greedy": shipped(
        "hardest-first, but each block sends its candidate of largest log q/p (uniform index)",
        codec.PRESETS["fast"],
        coder="greedy",
    ),
    "quick": shipped(
        "today's quick preset: greedy selection, 2,000 posterior steps, 15 fine-tuning steps "
        "per block, hardest first",
        codec.PRESETS["quick"],
        coder="greedy",
    ),
    "quick-astar": shipped(
        "today's quick preset, but with A* instead of greedy selection",
        codec.PRESETS["quick"],
        coder="astar",
    ),
    "baseline-fast": Variant(
        "the baseline recipe (16 epochs), fast with 3,000 posterior steps: the width reference",
        posterior=FAST_3K,
    ),
    "hidden-24": Variant(
        "baseline-fast with 24 hidden units instead of 16 (2,067 weights instead of 1,123)",
        net={"hidden": 24},
        posterior=FAST_3K,
    ),
    "finetune-50": Variant(
        "shipped prior; 50 fine-tuning steps per block instead of 15",
        posterior=replace(FAST, finetune_steps=50),
        prior_name=STUDY_PRIOR,
    ),
}


def _foolbox_photos() -> list[np.ndarray]:
    """foolbox's 20 ImageNet sample photos (MIT), whole, downsampled to 32x32 like CIFAR."""
    from unseen_photos import foolbox_photos

    photos = []
    for path in foolbox_photos():
        with Image.open(path) as img:
            rgb = img.convert("RGB")
        # Whole photo and two near-whole crops, each downsampled to 32x32, and their mirrors.
        w, h = rgb.size
        for box in (
            (0, 0, w, h),
            (0, 0, int(0.85 * w), int(0.85 * h)),
            (w - int(0.85 * w), h - int(0.85 * h), w, h),
        ):
            small = np.asarray(rgb.crop(box).resize((32, 32), Image.LANCZOS)) / 255.0
            photos += [small, small[:, ::-1]]
    return photos


def training_data(kind: str) -> np.ndarray:
    if kind == "oracle":
        return cifar10_samples()[0]
    if kind == "downsampled":
        cifar100 = list(cifar100_samples()[0])
        return np.stack(cifar100 + [x[:, ::-1] for x in cifar100] + _foolbox_photos())
    from train_cifar_priors import training_images

    return training_images()


def prior_for(name: str, variant: Variant, beta: float) -> codec.PriorFile:
    if variant.prior_name:
        from combiner.shipped import load_prior

        return load_prior(variant.prior_name.format(beta=f"{beta:.0e}"))
    path = PRIORS / f"{name}-beta{beta:.0e}.npz"
    if path.exists():
        return codec.PriorFile.load(path)
    data = training_data(variant.data)
    if len(data) > variant.train_images:
        keep = np.random.default_rng(0).permutation(len(data))[: variant.train_images]
        data = data[np.sort(keep)]
    start = time.perf_counter()
    prior = codec.train_prior(
        data,
        config=replace(CIFAR_NET, **variant.net),
        beta=beta,
        preset=replace(FAST, prior_epochs=variant.prior_epochs),
        init_variance=variant.init_variance,
        prior_init_scale=variant.prior_init_scale,
    )
    PRIORS.mkdir(parents=True, exist_ok=True)
    prior.save(path)
    print(f"{name}: prior on {len(data)} images in {time.perf_counter() - start:.0f} s")
    return prior


def leave_one_out_index_bits(indices: list[np.ndarray], log2_n: int) -> list[float]:
    """Bits of each image's indices under an empirical model fitted on the other images'."""
    bits = []
    for i, own in enumerate(indices):
        others = np.concatenate([x for j, x in enumerate(indices) if j != i])
        model = rectools.fit_index_model("empirical", others, 2**log2_n)
        bits.append(float(np.sum(model.bits(own))))
    return bits


def run(name: str, beta: float) -> dict:
    variant = VARIANTS[name]
    prior = prior_for(name, variant, beta)
    images, _ = cifar10_samples()
    pixels = images.shape[1] * images.shape[2]
    start = time.perf_counter()
    results = codec.compress(
        images, prior, coder=variant.coder, preset=variant.posterior, report_fit=True
    )
    encode_s = (time.perf_counter() - start) / len(images)
    header_bytes = np.mean([len(r.data) - len(container.unpack(r.data)[1]) for r in results])
    index_bits = leave_one_out_index_bits(
        [codec.block_indices(r.data, prior) for r in results], prior.kappa
    )
    row = {
        "variant": name,
        "what": variant.doc,
        "beta": beta,
        "blocks": len(prior.blocks),
        "bpp_file": float(np.mean([r.bpp for r in results])),
        "bpp_16_per_block": 16 * len(prior.blocks) / pixels,
        "bpp_kl": float(np.mean([r.kl_bits for r in results])) / pixels,
        "bpp_index_model": float(np.mean(index_bits) + 8 * header_bytes) / pixels,
        "header_bytes": float(header_bytes),
        "psnr_coded": float(np.mean([r.psnr_db for r in results])),
        "psnr_coded_of_mean_mse": psnr_of_mean_mse(r.psnr_db for r in results),
        "psnr_posterior_mean": float(np.mean([r.fit_psnr_db for r in results])),
        "psnr_exact_sample": float(np.mean([r.sample_psnr_db for r in results])),
        "encode_s_per_image": encode_s,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    with open(LOG, "a") as f:
        f.write(json.dumps(row) + "\n")
    print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return row


COLUMNS = (
    "variant",
    "blocks",
    "bpp_16_per_block",
    "bpp_kl",
    "psnr_coded",
    "db_at_equal_rate",
    "psnr_posterior_mean",
    "psnr_exact_sample",
    "encode_s_per_image",
    "what",
)
#: The shipped priors' curve before this study (fast preset, fresh Adam per block, 20 CIFAR-10
#: images; docs/results.md): (16 bits x blocks / pixels, mean PSNR dB) at the five betas.
SHIPPED_CURVE = ((0.734, 23.50), (1.250, 25.71), (2.109, 28.23), (2.844, 29.70), (3.297, 30.63))


def report() -> str:
    """The markdown table of every logged row.

    ``db_at_equal_rate`` is each variant's PSNR minus the shipped curve's PSNR at the same rate
    (16 bits per block, interpolated linearly): what the change is worth at equal rate,
    positive when it helps.
    """
    rows = [json.loads(line) for line in LOG.read_text().splitlines() if line.strip()]
    rates, psnrs = zip(*SHIPPED_CURVE, strict=True)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        r["db_at_equal_rate"] = r["psnr_coded"] - float(
            np.interp(r["bpp_16_per_block"], rates, psnrs)
        )
        cells = [f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    (OUT / "cifar_ablation.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*", help="variants to run (default: all)")
    parser.add_argument("--beta", type=float, default=2e-6)
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--report", action="store_true", help="only rebuild the table")
    args = parser.parse_args()
    if args.report:
        print(report())
        return
    if args.list:
        for name, variant in VARIANTS.items():
            print(f"{name:>18}: {variant.doc}")
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in args.variants or list(VARIANTS):
        run(name, args.beta)
    print(report())


if __name__ == "__main__":
    main()
