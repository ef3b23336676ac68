"""COMBINER end to end at the tiny preset: round trips, file sizes and refusals (fixtures
``images`` and ``prior_file``: conftest.py)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from combiner import codec, container, inr
from combiner.partition import next_fit_blocks
from combiner.priors import IsotropicPrior, LearnedPrior, PosteriorMoments, gaussian_kl_nats


@pytest.fixture(scope="module")
def compressed(images, prior_file):
    return codec.compress(images[:2], prior_file, preset="tiny", seed=5)


def test_round_trip_reproduces_the_reported_reconstruction(compressed, prior_file):
    for result in compressed:
        decoded = codec.decompress(result.data, prior_file)
        assert decoded.dtype == np.uint8 and decoded.shape == (8, 8, 3)
        assert np.array_equal(decoded, result.reconstruction)


def test_bpp_is_the_real_file_size(compressed):
    for result in compressed:
        assert result.bpp == 8 * len(result.data) / 64


def test_prior_file_round_trips_through_disk(tmp_path, prior_file, compressed):
    path = tmp_path / "prior.npz"
    prior_file.save(path)
    loaded = codec.PriorFile.load(path)
    assert loaded.content_hash == prior_file.content_hash
    assert np.array_equal(
        codec.decompress(compressed[0].data, loaded), compressed[0].reconstruction
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:-7], "truncated|checksum"),
        (lambda d: d[:10], "truncated|checksum"),
        (lambda d: d[:20] + bytes([d[20] ^ 0xFF]) + d[21:], "checksum"),
        (lambda d: b"PNG0" + d[4:], "magic"),
        (lambda d: b"", "magic"),
        (lambda d: d[:2] + bytes([0x90 | (d[2] & 0x0F)]) + d[3:], "version"),
    ],
)
def test_damaged_files_are_refused(compressed, prior_file, mutate, message):
    with pytest.raises(container.ContainerError, match=message):
        codec.decompress(mutate(compressed[0].data), prior_file)


def test_file_made_with_another_prior_is_refused(images, compressed):
    other = codec.train_prior(images, preset="tiny", beta=1e-4, kappa=8, seed=1)
    with pytest.raises(container.ContainerError, match="different prior"):
        codec.decompress(compressed[0].data, other)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((8, 8, 3)),
        np.full((1, 8, 8, 3), 2.0),
        np.full((1, 8, 8, 3), np.nan),
        np.zeros((1, 8, 8, 2)),
    ],
)
def test_bad_images_are_refused(bad, prior_file):
    with pytest.raises(ValueError, match=r"shape|NaN|lie in"):
        codec.compress(bad, prior_file, preset="tiny")


def test_unknown_preset_and_coder(images, prior_file):
    with pytest.raises(ValueError, match="preset"):
        codec.compress(images[:1], prior_file, preset="slow")
    with pytest.raises(ValueError, match="coder"):
        codec.compress(images[:1], prior_file, preset="tiny", coder="huffman")


def test_closed_form_prior_update_is_the_kl_optimum():
    gen = torch.Generator().manual_seed(0)
    post_mean = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    post_std = torch.rand(7, 5, generator=gen, dtype=torch.float64) + 0.1
    prior = LearnedPrior(torch.zeros(5), torch.ones(5))
    prior.update(PosteriorMoments.of(post_mean, post_std))
    # Numerical optimum of the summed KL by gradient descent from elsewhere.
    mean = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    log_std = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([mean, log_std], max_iter=500, tolerance_grad=1e-12)

    def closure():
        opt.zero_grad()
        loss = gaussian_kl_nats(post_mean, post_std, mean, log_std.exp()).sum()
        loss.backward()
        return loss

    opt.step(closure)
    torch.testing.assert_close(prior.mean, mean.detach(), atol=1e-4, rtol=0)
    torch.testing.assert_close(prior.std, log_std.detach().exp(), atol=1e-4, rtol=0)
    closed = gaussian_kl_nats(post_mean, post_std, prior.mean, prior.std).sum()
    assert closed <= closure().detach() + 1e-10


def test_isotropic_prior_is_zero_mean_and_layerwise():
    layer_of_param = torch.tensor([0, 0, 1, 1, 1])
    prior = IsotropicPrior(torch.ones(2, dtype=torch.float64), layer_of_param)
    prior.update(PosteriorMoments.of(torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.0]]), torch.ones(1, 5)))
    assert torch.all(prior.mean == 0)
    torch.testing.assert_close(prior.std, torch.tensor([2.0, 2.0, 1.0, 1.0, 1.0]).sqrt().double())


def test_partition_respects_kappa(prior_file):
    kl = prior_file.kl_bits_per_weight
    blocks = next_fit_blocks(kl, kappa=16.0, seed=3)
    covered = np.sort(np.concatenate(blocks))
    assert np.array_equal(covered, np.arange(kl.size))
    for block in blocks:
        assert kl[block].sum() <= 16.0 or block.size == 1
        assert block.size <= 25
    assert [b.tolist() for b in blocks] == [b.tolist() for b in next_fit_blocks(kl, 16.0, 3)]


def test_isotropic_prior_sends_its_layer_scales(images):
    prior = codec.train_prior(images, prior="isotropic", preset="tiny", beta=1e-4, kappa=8)
    result = codec.compress(images[:1], prior, preset="tiny", seed=2)[0]
    header, _ = container.unpack(result.data)
    assert len(header.side_info) == 4 * prior.config.layers  # float32 per layer
    assert np.array_equal(codec.decompress(result.data, prior), result.reconstruction)


def test_no_finetuning_and_mrc_round_trip(images, prior_file):
    for options in ({"finetune": False}, {"coder": "mrc"}):
        result = codec.compress(images[:1], prior_file, preset="tiny", **options)[0]
        assert np.array_equal(codec.decompress(result.data, prior_file), result.reconstruction)


def test_exact_sample_estimate_is_labelled_and_finite(images, prior_file):
    (estimate,) = codec.estimate_exact_sample(images[:1], prior_file, preset="tiny")
    assert estimate.bpp_estimate > 0 and np.isfinite(estimate.psnr_db)


def test_a_failing_compiler_falls_back_to_eager(monkeypatch, tmp_path, images, prior_file, capsys):
    from combiner import aot, fit

    def fail(*_args):
        raise RuntimeError("no compiler here")

    # Neither the ahead-of-time build (an empty cache, a failing build) nor torch.compile.
    monkeypatch.setenv("COMBINER_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(aot.AheadOfTimeStep, "_runners", {})
    monkeypatch.setattr(aot, "_build", fail)
    monkeypatch.setattr(fit.torch, "compile", lambda _function: fail)
    monkeypatch.setattr(fit, "_COMPILED", {})
    preset = codec.Preset(posterior_steps=3, finetune_steps=1, compile_loss=True)
    result = codec.compress(images[:1], prior_file, preset=preset)[0]
    assert np.array_equal(codec.decompress(result.data, prior_file), result.reconstruction)
    err = capsys.readouterr().err
    assert "ahead-of-time compilation failed" in err and "fitting eagerly" in err


def test_the_one_block_loss_of_prior_learning_compiles():
    # Prior learning fits the plain beta-ELBO (one block); the compiled loss must not fall back
    # to eager mode there (torch 2.13's inductor could not compile its first formulation).
    from combiner import fit

    config, batch, points = inr.CIFAR_NET, 2, 16
    n = config.num_params
    net = inr.VariationalINR(config, batch)
    coords = torch.zeros(batch, points, 2)
    noise = inr.PrivateNoise(seed=0).draw(config, batch, points)
    args = (
        config,
        net.mean,
        net.rho,
        fit.StepInputs(
            inr.fourier_features(coords, config),
            torch.zeros(batch, points, 3),
            noise,
            torch.zeros(n),
            torch.full((n,), 0.1),
            torch.full((batch, 1), 2e-6),
            torch.zeros(n, dtype=torch.int64),
            torch.zeros(batch, n, dtype=torch.bool),
            torch.zeros(batch, n),
        ),
    )
    compiled = fit._Compiled(fit._loss)
    loss = compiled(*args)[0]
    assert compiled.compiled is not None
    assert torch.allclose(loss, fit._loss(*args)[0], rtol=1e-5)


@pytest.mark.parametrize("every", [1, 5])
def test_finetune_every_sets_how_often_fine_tuning_runs(monkeypatch, images, prior_file, every):
    from combiner import progressive

    calls = []
    real = progressive.fit_posteriors

    def counting(*args, **kwargs):
        calls.append(int((kwargs["frozen"].mask[0]).sum()))
        return real(*args, **kwargs)

    monkeypatch.setattr(progressive, "fit_posteriors", counting)
    preset = codec.Preset(
        posterior_steps=3,
        finetune_steps=1,
        compile_loss=False,
        finetune_every=every,
        block_order="partition",  # so that the weights frozen are the partition's first
    )
    result = codec.compress(images[:1], prior_file, preset=preset)[0]
    num_blocks = len(prior_file.blocks)
    # After blocks every, 2 * every, ... (never after the last one).
    assert len(calls) == (num_blocks - 1) // every
    sizes = np.cumsum([b.size for b in prior_file.blocks])
    assert calls == [int(sizes[k - 1]) for k in range(every, num_blocks, every)]
    assert np.array_equal(codec.decompress(result.data, prior_file), result.reconstruction)


@pytest.mark.parametrize(
    ("per_block", "most", "expected"),
    [
        (0, None, lambda blocks: 7),
        (1, None, lambda blocks: blocks),
        (1, 10_000, lambda blocks: blocks),
        (5, 9, lambda blocks: 9),
    ],
)
def test_fitting_steps_grow_with_the_blocks_between_the_bounds(
    monkeypatch, images, prior_file, per_block, most, expected
):
    steps = []
    real = codec.fit_posteriors

    def counting(*args, **kwargs):
        steps.append(kwargs["steps"])
        return real(*args, **kwargs)

    monkeypatch.setattr(codec, "fit_posteriors", counting)
    preset = codec.Preset(
        posterior_steps=7,
        posterior_steps_per_block=per_block,
        max_posterior_steps=most,
        compile_loss=False,
    )
    codec.compress(images[:1], prior_file, preset=preset, finetune=False)
    num_blocks = len(prior_file.blocks)
    assert 7 < num_blocks < 10_000
    assert steps == [expected(num_blocks)]


def test_penalties_adapt_as_algorithm_4_says_and_respect_their_floor():
    from combiner.fit import BlockPenalties

    blocks = torch.tensor([0, 0, 1, 2])
    free = BlockPenalties(blocks, batch=1, beta=1.0, kappa=16.0)
    floored = BlockPenalties(blocks, batch=1, beta=1.0, kappa=16.0, floor=0.5)
    kl_bits = torch.tensor([[17.0, 15.8, 3.0]])  # over budget, in the dead band, under it
    for _ in range(30):
        free.adjust(kl_bits)
        floored.adjust(kl_bits)
    assert torch.allclose(free.lam, torch.tensor([[1.05**30, 1.0, 1.05**-30]]))
    assert torch.allclose(floored.lam, torch.tensor([[1.05**30, 1.0, 0.5]]))


def test_version_2_header_holds_only_what_the_prior_cannot_tell(compressed, prior_file):
    header, payload = container.unpack(compressed[0].data)
    assert header.shape is None  # the prior's data shape
    assert header.seed == 5 and header.num_blocks is None and header.log2_num_candidates is None
    # magic 2, version/modality 1, flags 1, prior hash 2, seed 1, checksum 2.
    assert len(compressed[0].data) - len(payload) == 9
    assert header.prior_hash == prior_file.content_hash[:2]


@pytest.mark.parametrize(
    ("coder", "candidates"),
    [
        ("astar", "philox4x32"),
        ("mrc", "philox4x32"),
        ("astar", "philox"),
        ("greedy", "philox4x32"),
        ("greedy", "philox"),
    ],
)
def test_the_file_records_the_coder_and_its_candidate_stream(coder, candidates):
    header = container.Header("image", None, b"ab", coder, "uniform", candidates=candidates)
    parsed, payload = container.unpack(container.pack(header, b"xyz"))
    assert (parsed.coder, parsed.candidates, payload) == (coder, candidates, b"xyz")
    with pytest.raises(ValueError, match="no coder and stream"):
        container.pack(replace(header, candidates="sobol"), b"")


def test_the_coder_is_the_presets_unless_the_caller_names_one(images, prior_file):
    assert codec.PRESETS["fast"].coder == "astar" and codec.PRESETS["quick"].coder == "greedy"
    greedy_tiny = replace(codec.PRESETS["tiny"], coder="greedy")
    by_preset = codec.compress(images[:1], prior_file, preset=greedy_tiny)[0]
    assert container.unpack(by_preset.data)[0].coder == "greedy"
    named = codec.compress(images[:1], prior_file, coder="mrc", preset=greedy_tiny)[0]
    assert container.unpack(named.data)[0].coder == "mrc"
    assert np.array_equal(codec.decompress(by_preset.data, prior_file), by_preset.reconstruction)


def test_new_files_use_the_default_stream(compressed):
    assert container.unpack(compressed[0].data)[0].candidates == "philox4x32"


def test_a_shape_other_than_the_priors_is_stored(prior_file):
    rng = np.random.default_rng(0)
    result = codec.compress(rng.uniform(size=(1, 6, 10, 3)), prior_file, preset="tiny")[0]
    header, _ = container.unpack(result.data)
    assert header.shape == (6, 10, 3) and header.seed == 0
    assert np.array_equal(codec.decompress(result.data, prior_file), result.reconstruction)


def test_fitted_index_model_codes_astar_indices_and_is_part_of_the_prior(images, prior_file):
    fitted = codec.attach_index_model(prior_file, images, preset="tiny")
    assert fitted.index_bucket_probs is not None
    assert fitted.content_hash != prior_file.content_hash
    result = codec.compress(images[:1], fitted, preset="tiny")[0]
    assert container.unpack(result.data)[0].index_model == "empirical"
    assert np.array_equal(codec.decompress(result.data, fitted), result.reconstruction)
    # MRC's and greedy selection's uniform indices get the uniform model even with a fitted
    # one at hand; greedy files are versions 4 (and 5 when large), with the same bytes else.
    greedy = codec.compress(images[:1], fitted, coder="greedy", preset="tiny")[0]
    assert container.unpack(greedy.data)[0].index_model == "uniform"
    assert greedy.data[2] >> 4 == 4 and container.unpack(greedy.data)[0].coder == "greedy"
    assert np.array_equal(codec.decompress(greedy.data, fitted), greedy.reconstruction)
    mrc = codec.compress(images[:1], fitted, coder="mrc", preset="tiny")[0]
    assert container.unpack(mrc.data)[0].index_model == "uniform"
    assert np.array_equal(codec.decompress(mrc.data, fitted), mrc.reconstruction)
    with pytest.raises(container.ContainerError, match="different prior"):
        codec.decompress(result.data, prior_file)


def test_index_model_survives_saving(tmp_path, images, prior_file):
    fitted = codec.attach_index_model(prior_file, images[:2], preset="tiny")
    fitted.save(tmp_path / "p.npz")
    loaded = codec.PriorFile.load(tmp_path / "p.npz")
    assert np.array_equal(loaded.index_bucket_probs, fitted.index_bucket_probs)
    assert loaded.content_hash == fitted.content_hash and loaded.data_shape == (8, 8, 3)


def test_notes_are_for_people_and_leave_the_prior_hash_alone(prior_file):

    noted = replace(prior_file, notes={"measured": "2 bpp, 30 dB"})
    assert noted.content_hash == prior_file.content_hash
    assert replace(prior_file, beta=2e-4).content_hash != prior_file.content_hash


def test_a_small_signal_is_compressed_on_one_torch_thread(images, prior_file, monkeypatch):
    # Two single-image compressions side by side on two cores spun their second threads at
    # each other outside the fits; on one thread they run in parallel and encode the same bytes
    # every time.
    seen = []
    real = codec.code_progressively

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(codec, "code_progressively", recording)
    monkeypatch.delenv("COMBINER_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        first = codec.compress(images[:1], prior_file, preset="tiny")[0].data
        second = codec.compress(images[:1], prior_file, preset="tiny")[0].data
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 1] and after == 2 and first == second
