"""The command line end to end on PNG files, and its error messages."""

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from combiner import cli


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = root / "train"
    data.mkdir()
    y, x = np.mgrid[0:8, 0:8]
    for k in range(3):
        pixels = np.stack([x * 30 + k * 20, y * 30, (x + y) * 15], axis=-1).astype(np.uint8)
        Image.fromarray(pixels).save(data / f"img{k}.png")
    assert (
        cli.main(
            [
                "train-prior",
                str(data),
                "-o",
                str(root / "prior.npz"),
                "--preset",
                "tiny",
                "--kappa",
                "10",
            ]
        )
        == 0
    )
    return root


def test_compress_decompress_info(workspace, capsys):
    root = workspace
    args = ["--prior", str(root / "prior.npz")]
    assert (
        cli.main(
            [
                "compress",
                str(root / "train" / "img0.png"),
                "-o",
                str(root / "a.cmb"),
                "--preset",
                "tiny",
                *args,
            ]
        )
        == 0
    )
    assert "bpp" in capsys.readouterr().out
    assert cli.main(["decompress", str(root / "a.cmb"), "-o", str(root / "a.png"), *args]) == 0
    assert np.asarray(Image.open(root / "a.png")).shape == (8, 8, 3)
    assert cli.main(["info", str(root / "a.cmb"), *args]) == 0
    info = capsys.readouterr().out
    assert "blocks" in info and "version 2" in info and "shape 8x8x3" in info


def test_errors_are_messages_and_nothing_is_written(workspace, capsys):
    root = workspace
    bad = root / "bad.png"
    bad.write_bytes(b"not an image")
    out = root / "never.cmb"
    code = cli.main(
        [
            "compress",
            str(bad),
            "-o",
            str(out),
            "--prior",
            str(root / "prior.npz"),
            "--preset",
            "tiny",
        ]
    )
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "cannot read image" in err and "Traceback" not in err
    (root / "junk.cmb").write_bytes(b"CMB1\x01garbage")
    code = cli.main(
        [
            "decompress",
            str(root / "junk.cmb"),
            "-o",
            str(root / "x.png"),
            "--prior",
            str(root / "prior.npz"),
        ]
    )
    assert code == 2 and not (root / "x.png").exists()
    assert "combiner: error" in capsys.readouterr().err
    code = cli.main(
        ["decompress", str(root / "junk.cmb"), "-o", str(root / "x.png"), "--prior", str(bad)]
    )
    assert code == 2 and "prior file" in capsys.readouterr().err


@pytest.fixture(scope="module")
def audio_workspace(tmp_path_factory):
    from scipy.io import wavfile

    root = tmp_path_factory.mktemp("audio")
    clips = root / "clips"
    clips.mkdir()
    t = np.arange(1600) / 16000
    for k, f in enumerate((220, 330)):
        wavfile.write(
            clips / f"c{k}.wav", 16000, (8000 * np.sin(2 * np.pi * f * t)).astype(np.int16)
        )
    prior = root / "audio.npz"
    train = [
        "train-prior",
        str(clips),
        "-o",
        str(prior),
        "--preset",
        "tiny",
        "--kappa",
        "8",
        "--chunk",
        "800",
    ]
    assert cli.main(train) == 0
    return root


def test_audio_through_the_cli(audio_workspace, tmp_path, capsys):
    from scipy.io import wavfile

    prior = audio_workspace / "audio.npz"
    t = np.arange(800) / 16000
    out, wav = tmp_path / "c0.cmb", tmp_path / "c0.wav"
    args = ["--prior", str(prior), "--preset", "tiny"]
    wavfile.write(
        tmp_path / "short.wav", 16000, (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    )
    assert cli.main(["compress", str(tmp_path / "short.wav"), "-o", str(out), *args]) == 0
    assert "kbps" in capsys.readouterr().out
    assert cli.main(["decompress", str(out), "-o", str(wav), "--prior", str(prior)]) == 0
    rate, decoded = wavfile.read(wav)
    assert rate == 16000 and decoded.dtype == np.int16 and decoded.shape == (800,)


@pytest.mark.parametrize(("samples", "preset"), [(800, "fast"), (48_000, "large-cpu")])
def test_compress_picks_the_preset_by_signal_size(monkeypatch, tmp_path, capsys, samples, preset):
    # 3 s of 16 kHz speech on every point at every step, fine-tuned after each of its thousands
    # of blocks, would take hours on a CPU: large signals get the large-cpu schedule.
    from scipy.io import wavfile

    from combiner import codec
    from combiner.errors import InputError

    chosen = []

    def recording(*args, **kwargs):
        chosen.append(kwargs["preset"])
        raise InputError("stopped before fitting")  # the shipped speech prior: minutes

    monkeypatch.setattr(codec, "compress", recording)
    t = np.arange(samples) / 16000
    wave = tmp_path / "clip.wav"
    wavfile.write(wave, 16000, (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16))
    assert cli.main(["compress", str(wave), "-o", str(tmp_path / "clip.cmb")]) != 0
    assert chosen == [codec.PRESETS[preset]]
    assert "stopped before fitting" in capsys.readouterr().err
    args = ["compress", str(wave), "-o", str(tmp_path / "clip.cmb"), "--block-order", "partition"]
    assert cli.main(args) != 0
    assert chosen[1] == replace(codec.PRESETS[preset], block_order="partition")


@pytest.mark.parametrize(
    ("rate", "samples", "message"),
    [
        (16000, np.zeros((100, 2), dtype=np.int16), "mono"),
        (16000, np.zeros(100, dtype=np.uint8), "8-bit"),
        (8000, np.zeros(100, dtype=np.int16), "resample"),
    ],
)
def test_bad_audio_files_are_refused(tmp_path, capsys, rate, samples, message):
    from scipy.io import wavfile

    wavfile.write(tmp_path / "bad.wav", rate, samples)
    out = tmp_path / "bad.cmb"
    assert (
        cli.main(["compress", str(tmp_path / "bad.wav"), "-o", str(out), "--preset", "tiny"]) == 2
    )
    assert message in capsys.readouterr().err and not out.exists()


def test_evaluate_writes_table_and_plot(workspace, capsys):
    root = workspace
    prior = str(root / "prior.npz")
    out = root / "eval" / "rd"
    args = ["evaluate", "--folder", str(root / "train"), "--images", "2", "--priors", prior]
    args += [
        "--preset",
        "tiny",
        "--ablation-prior",
        prior,
        "--mrc",
        "--no-finetune",
        "--exact-sample",
        "--kl-map",
    ]
    assert cli.main([*args, "-o", str(out)]) == 0
    assert (out.parent / "rd-kl.png").stat().st_size > 0
    table = out.with_suffix(".md").read_text()
    for label in (
        "COMBINER (tiny)",
        "MRC",
        "without fine-tuning",
        "exact sample",
        "JPEG 2000",
        "WebP",
    ):
        assert label in table
    assert out.with_suffix(".png").stat().st_size > 0 and out.with_suffix(".csv").exists()
    # A second sweep with another coder joins the same log and table under its own label.
    sweep = ["evaluate", "--folder", str(root / "train"), "--images", "2", "--priors", prior]
    sweep += ["--preset", "tiny", "--coder", "greedy", "--no-baselines", "-o", str(out)]
    assert cli.main(sweep) == 0
    table = out.with_suffix(".md").read_text()
    assert "COMBINER (tiny, greedy)" in table and "COMBINER (tiny)" in table


def test_evaluate_audio_with_mp3_and_anchors(audio_workspace):
    out = audio_workspace / "eval" / "rd"
    args = ["evaluate", "--folder", str(audio_workspace / "clips"), "--chunk", "800"]
    args += ["--priors", str(audio_workspace / "audio.npz"), "--preset", "tiny"]
    args += ["--anchors", "librispeech", "-o", str(out)]
    assert cli.main(args) == 0
    rows = out.with_suffix(".csv").read_text().splitlines()
    assert rows[0].split(",")[2] == "kbps"
    assert any(r.startswith("COMBINER (tiny)") for r in rows)
    assert sum(r.startswith("MP3 (LAME)") for r in rows) == 6
    assert out.with_suffix(".png").stat().st_size > 0


@pytest.fixture(scope="module")
def array_workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("arrays")
    fields = root / "fields"
    fields.mkdir()
    y, x = np.mgrid[0:6, 0:8] / 8.0
    for k in range(3):
        np.save(fields / f"f{k}.npy", 280.0 + 15.0 * np.sin(4 * x + 3 * y + k))
    prior = root / "fields.npz"
    train = ["train-prior", str(fields), "-o", str(prior), "--preset", "tiny", "--kappa", "8"]
    assert cli.main(train) == 0
    return root


def test_npy_arrays_through_the_cli(array_workspace, tmp_path, capsys):
    prior, fields = array_workspace / "fields.npz", array_workspace / "fields"
    out, decoded = tmp_path / "f0.cmb", tmp_path / "f0.npy"
    args = ["--prior", str(prior), "--preset", "tiny"]
    assert cli.main(["compress", str(fields / "f0.npy"), "-o", str(out), *args]) == 0
    assert "bits per value" in capsys.readouterr().out
    assert cli.main(["info", str(out)]) == 0
    assert "array on 2 axes, 1 channels, values in [265" in capsys.readouterr().out
    assert cli.main(["decompress", str(out), "-o", str(decoded), "--prior", str(prior)]) == 0
    field = np.load(decoded)
    assert field.shape == (6, 8) and field.dtype == np.float32
    assert 260.0 < field.mean() < 300.0


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((2, 2, 2, 2)), "1 to 3 grid axes"),
        (np.array([[1.0, np.nan], [2.0, 3.0]]), "NaN"),
        (np.array(["a", "b"]), "need numbers"),
        (np.zeros((6, 8, 3)), "models 2-axis array data"),
    ],
)
def test_bad_npy_arrays_are_refused(array_workspace, tmp_path, capsys, array, message):
    np.save(tmp_path / "bad.npy", array)
    out = tmp_path / "bad.cmb"
    args = ["compress", str(tmp_path / "bad.npy"), "-o", str(out), "--preset", "tiny"]
    args += ["--prior", str(array_workspace / "fields.npz")]
    if array.ndim == 3:
        args.append("--channels-last")
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_an_array_with_an_image_prior_is_refused(array_workspace, tmp_path, capsys):
    out = tmp_path / "f0.cmb"
    args = ["compress", str(array_workspace / "fields" / "f0.npy"), "-o", str(out)]
    assert cli.main([*args, "--preset", "tiny", "--prior", "cifar-learned-beta2e-06"]) == 2
    assert "prior models image data" in capsys.readouterr().err and not out.exists()
    assert cli.main([*args, "--preset", "tiny"]) == 2  # no shipped prior for arrays
    assert "no shipped prior models array data" in capsys.readouterr().err
    assert not out.exists()


def test_shipped_priors_are_chosen_by_signal_kind_and_size():
    from combiner.shipped import DEFAULT_PRIORS, default_prior_name, load_prior

    assert default_prior_name("image", (32, 32, 3)) == "cifar-learned-beta2e-06"
    assert default_prior_name("image", (512, 768, 3)) == DEFAULT_PRIORS["image-large"]
    assert default_prior_name("audio", (48_000, 1)) == DEFAULT_PRIORS["audio"]
    with pytest.raises(ValueError, match="no shipped prior models array data"):
        default_prior_name("array", (8, 8, 1))
    for key, name in DEFAULT_PRIORS.items():
        prior = load_prior(name)
        assert prior.modality == key.split("-")[0] and prior.data_shape is not None
    assert load_prior(DEFAULT_PRIORS["image-large"]).data_shape == (512, 768, 3)
    assert load_prior(DEFAULT_PRIORS["audio"]).data_shape == (48_000, 1)


def test_a_wav_compresses_and_decodes_with_no_prior_named(tmp_path, capsys):
    from scipy.io import wavfile

    t = np.arange(4_000) / 16_000
    wave = (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    wavfile.write(tmp_path / "clip.wav", 16_000, wave)
    out, back = tmp_path / "clip.cmb", tmp_path / "back.wav"
    # The speech prior has 915 blocks: no fine-tuning between them keeps this test short.
    args = ["--preset", "tiny", "--no-finetune"]
    assert cli.main(["compress", str(tmp_path / "clip.wav"), "-o", str(out), *args]) == 0
    assert "kbps" in capsys.readouterr().out
    assert cli.main(["decompress", str(out), "-o", str(back)]) == 0  # prior found by its hash
    rate, decoded = wavfile.read(back)
    assert rate == 16_000 and decoded.shape == (4_000,) and decoded.dtype == np.int16
