"""The command line end to end on PNG files, and its error messages."""

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
    assert cli.main(["info", str(root / "a.cmb")]) == 0
    assert "blocks" in capsys.readouterr().out


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
    assert code == 1 and not out.exists()
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
    assert code == 1 and not (root / "x.png").exists()
    assert "combiner: error" in capsys.readouterr().err
    code = cli.main(
        ["decompress", str(root / "junk.cmb"), "-o", str(root / "x.png"), "--prior", str(bad)]
    )
    assert code == 1 and "prior file" in capsys.readouterr().err
