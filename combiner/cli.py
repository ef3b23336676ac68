"""The ``combiner`` command line: train-prior, compress, decompress, info. No logic of its own."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from combiner import codec, container
from combiner.shipped import DEFAULT_PRIOR, available_priors, load_prior


def read_image(path: Path) -> np.ndarray:
    """An RGB image as ``(H, W, 3)`` floats in [0, 1]; ``ValueError`` if unreadable."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    except (OSError, UnidentifiedImageError) as err:
        raise ValueError(f"cannot read image {path}: {err}") from None


def _write_atomically(path: Path, data: bytes) -> None:
    # Write beside the target and rename, so a failure never leaves half a file.
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(data)
    tmp.replace(path)


def _train_prior(args: argparse.Namespace) -> None:
    files = sorted(
        p for p in Path(args.data).iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"}
    )
    if not files:
        raise ValueError(f"no .png or .jpg images in {args.data}")
    images = np.stack([read_image(p) for p in files])
    prior = codec.train_prior(
        images, prior=args.prior, beta=args.beta, kappa=args.kappa, preset=args.preset
    )
    prior.save(args.output)
    print(
        f"trained a {args.prior} prior on {len(files)} images, "
        f"{len(prior.blocks)} blocks: {args.output}"
    )


def _compress(args: argparse.Namespace) -> None:
    prior = load_prior(f"cifar-learned-beta{args.beta:.0e}" if args.beta else args.prior)
    image = read_image(Path(args.input))
    result = codec.compress(
        image[None],
        prior,
        coder=args.coder,
        preset=args.preset,
        seed=args.seed,
        finetune=not args.no_finetune,
    )[0]
    _write_atomically(Path(args.output), result.data)
    print(
        f"{args.output}: {len(result.data)} bytes, {result.bpp:.3f} bpp, "
        f"{result.psnr_db:.2f} dB PSNR"
    )


def _decompress(args: argparse.Namespace) -> None:
    prior = load_prior(args.prior)
    pixels = codec.decompress(Path(args.input).read_bytes(), prior)
    tmp = Path(args.output + ".partial.png")
    Image.fromarray(pixels).save(tmp)
    tmp.replace(args.output)
    print(f"{args.output}: {pixels.shape[1]}x{pixels.shape[0]}")


def _info(args: argparse.Namespace) -> None:
    data = Path(args.input).read_bytes()
    header, payload = container.unpack(data)
    h, w = header.shape[:2]
    print(f"modality     {header.modality} {'x'.join(map(str, header.shape))}")
    print(f"coder        {header.coder} (N = 2^{header.log2_num_candidates}), seed {header.seed}")
    print(f"blocks       {header.num_blocks}, index model {header.index_model}")
    if header.side_info:
        print(f"side info    {len(header.side_info)} bytes")
    print(f"prior hash   {header.prior_hash.hex()}")
    print(
        f"size         {len(data)} bytes ({len(payload)} index bytes), "
        f"{8 * len(data) / (h * w):.3f} bpp"
    )


def _demo(args: argparse.Namespace) -> None:
    from combiner import demo

    demo.run(args.prior, args.images, args.preset, Path(args.output))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="combiner", description="COMBINER image compression")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train-prior", help="learn a prior from a folder of images")
    train.add_argument("data")
    train.add_argument("-o", "--output", required=True)
    train.add_argument("--prior", default="learned", choices=["learned", "isotropic"])
    train.add_argument("--beta", type=float, default=2e-5)
    train.add_argument("--kappa", type=int, default=16)
    train.add_argument("--preset", default="fast", choices=sorted(codec.PRESETS))
    train.set_defaults(run=_train_prior)
    comp = sub.add_parser("compress", help="image -> .cmb")
    comp.add_argument("input")
    comp.add_argument("-o", "--output", required=True)
    comp.add_argument(
        "--prior", default=DEFAULT_PRIOR, help="a prior file or a shipped prior's name"
    )
    comp.add_argument(
        "--beta",
        type=float,
        help="rate: pick the shipped CIFAR prior trained at this beta (see `combiner priors`)",
    )
    comp.add_argument("--coder", default="astar", help="a rectools coder: astar or mrc")
    comp.add_argument(
        "--no-finetune", action="store_true", help="skip fine-tuning between blocks (faster)"
    )
    comp.add_argument("--preset", default="fast", choices=sorted(codec.PRESETS))
    comp.add_argument("--seed", type=int, default=0)
    comp.set_defaults(run=_compress)
    dec = sub.add_parser("decompress", help=".cmb -> PNG")
    dec.add_argument("input")
    dec.add_argument("-o", "--output", required=True)
    dec.add_argument("--prior", default=DEFAULT_PRIOR, help="the prior the file was made with")
    dec.set_defaults(run=_decompress)
    demo = sub.add_parser("demo", help="compress the bundled CIFAR-10 images end to end")
    demo.add_argument("--images", type=int, default=4, choices=range(1, 21), metavar="1..20")
    demo.add_argument("--preset", default="fast", choices=sorted(codec.PRESETS))
    demo.add_argument("--prior", default=DEFAULT_PRIOR)
    demo.add_argument("-o", "--output", default="combiner-demo")
    demo.set_defaults(run=_demo)
    priors = sub.add_parser("priors", help="list the shipped priors")
    priors.set_defaults(run=lambda _args: print("\n".join(available_priors())))
    info = sub.add_parser("info", help="show a .cmb header")
    info.add_argument("input")
    info.set_defaults(run=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, OSError) as err:
        print(f"combiner: error: {err}", file=sys.stderr)
        return 1
    return 0
