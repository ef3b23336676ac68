"""The ``combiner`` command line: train-prior, compress, compress-dataset, decompress, info...

No logic of its own."""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import wavfile

from combiner import codec, container, evaluate
from combiner.dataset import compress_dataset
from combiner.demo import DEMO_PRIOR
from combiner.engines import ENGINES, Engine, engine_for
from combiner.errors import CombinerError, ContainerError, InputError
from combiner.inputs import modality_of, read_signal
from combiner.inr import NAMED_NETS
from combiner.progressive import BLOCK_ORDERS
from combiner.safeio import check_output, write_atomically
from combiner.shipped import (
    DEFAULT_PRIOR,
    available_priors,
    default_prior_name,
    load_prior,
    prior_for_file,
)
from combiner.signals import get_modality

CHANNELS_LAST_HELP = ".npy arrays: the last axis holds channels (default: one channel)"
CODER_HELP = (
    "astar (the paper's), mrc, or greedy (the best candidate, not a sample); "
    "default: the preset's (greedy for quick, astar otherwise)"
)


def _read_signal(path: Path, args: argparse.Namespace) -> tuple[np.ndarray, str]:
    """One input file as ``(signal, modality)``; image conversions are printed as notes."""
    notes: list[str] = []
    signal, modality = read_signal(path, args.sample_rate, args.channels_last, notes)
    for note in notes:
        print(f"combiner: note: {note}", file=sys.stderr)
    return signal, modality


def _modality_options(modality: str, args: argparse.Namespace) -> dict | None:
    """What ``codec.compress`` needs besides the data (the sample rate, for audio)."""
    return {"sample_rate": args.sample_rate} if modality == "audio" else None


def _training_data(folder: Path, args: argparse.Namespace) -> tuple[np.ndarray, str]:
    files = sorted(folder.iterdir())
    present = {modality_of(p) for p in files}
    for modality in ("array", "image", "audio"):  # one modality per folder, in this order
        if modality in present:
            break
    else:
        raise InputError(f"no .png, .jpg, .wav or .npy files in {folder}")
    signals = [_read_signal(p, args)[0] for p in files if modality_of(p) == modality]
    if modality == "audio":
        # Audio trains on equal chunks of every clip (COMBINER: 3-second chunks).
        chunks = []
        for wave in signals:
            whole = len(wave) // args.chunk
            chunks += np.split(wave[: whole * args.chunk], whole) if whole else []
        if not chunks:
            raise InputError(f"no clip in {folder} is {args.chunk} samples long")
        return np.stack(chunks), modality
    if len({signal.shape for signal in signals}) > 1:
        raise InputError(f"the {modality} files in {folder} differ in shape; crop them to one")
    return np.stack(signals), modality


def _train_prior(args: argparse.Namespace) -> None:
    check_output(Path(args.output))
    data, modality = _training_data(Path(args.data), args)
    prior = codec.train_prior(
        data,
        config=NAMED_NETS[args.net] if args.net else None,
        prior=args.prior,
        beta=args.beta,
        kappa=args.kappa,
        preset=args.preset,
        init_variance=args.init_variance,
        lr=args.lr,
        modality=modality,
        shards=args.shards,
        **_engine_options(args),
    )
    prior.save(args.output)
    print(
        f"trained a {args.prior} {modality} prior on {len(data)} signals, "
        f"{len(prior.blocks)} blocks: {args.output}"
    )


def _compress(args: argparse.Namespace) -> None:
    path, output = Path(args.input), Path(args.output)
    check_output(output, inputs=(path,))  # before minutes of fitting, not after
    signal, modality = _read_signal(path, args)
    if args.beta:
        name = f"cifar-learned-beta{args.beta:.0e}"
    else:
        name = args.prior or default_prior_name(modality, signal.shape)
    prior = load_prior(name)
    if prior.modality != modality:
        raise InputError(
            f"{path} holds {modality} data but the prior models {prior.modality} data: "
            f"pass --prior with a prior trained on {modality} data (combiner train-prior)"
        )
    options = _modality_options(modality, args)
    grid = get_modality(modality, **(options or {})).grid_shape(signal[None])
    preset = args.preset or codec.default_preset(grid)
    schedule = codec.PRESETS[preset]
    if args.block_order:
        schedule = replace(schedule, block_order=args.block_order)
    result = codec.compress(
        signal[None],
        prior,
        coder=args.coder,
        preset=schedule,
        seed=args.seed,
        finetune=not args.no_finetune,
        modality_options=options,
    )[0]
    write_atomically(output, result.data)
    print(
        f"{args.output}: {len(result.data)} bytes, {result.rate:.3f} {result.rate_unit}, "
        f"{result.psnr_db:.2f} dB PSNR ({preset} preset)"
    )


def _engine_options(args: argparse.Namespace) -> dict:
    """The engine a command runs on (``--engine``, ``--workers``, Ray's ``--address``)."""
    options = {"engine": args.engine, "workers": args.workers}
    if args.engine == "ray":
        options.update(address=args.address, retries=args.retries)
    elif args.address:
        raise InputError("--address needs --engine ray")
    return options


def _compress_dataset(args: argparse.Namespace) -> int:
    summary = compress_dataset(
        args.input,
        args.output,
        prior=args.prior,
        preset=args.preset,
        seed=args.seed,
        coder=args.coder,
        batch_size=args.batch_size,
        threads=args.threads,
        sample_rate=args.sample_rate,
        channels_last=args.channels_last,
        **_engine_options(args),
    )
    print(f"{args.output}: {summary}")
    for name, error in summary.failures.items():
        print(f"combiner: failed: {name}: {error}", file=sys.stderr)
    return 3 if summary.failures else 0


def _add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        default="local",
        choices=sorted(ENGINES),
        help="where the work runs: local processes, or Ray (pip install 'combiner[ray]')",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes, or CPUs of a local Ray"
    )
    parser.add_argument("--address", help="an existing Ray cluster (e.g. auto, ray://host:10001)")
    parser.add_argument(
        "--retries", type=int, default=2, help="Ray: re-runs of a task whose worker died"
    )


def _read_cmb(path: Path) -> bytes:
    """A ``.cmb`` file's bytes; a file over the format's largest is refused unread."""
    if path.stat().st_size > container.MAX_FILE_BYTES:
        raise ContainerError(f"{path} is larger than any .cmb file can be")
    return path.read_bytes()


def _decompress(args: argparse.Namespace) -> None:
    path, output = Path(args.input), Path(args.output)
    check_output(output, inputs=(path,))
    data = _read_cmb(path)
    prior = load_prior(args.prior) if args.prior else prior_for_file(data)
    decoded = codec.decompress(data, prior)
    header, _ = container.unpack(data)
    buffer = io.BytesIO()
    if header.modality == "audio":
        wavfile.write(buffer, header.modality_params[0], decoded[:, 0])
    elif header.modality == "array":
        np.save(buffer, decoded[..., 0] if decoded.shape[-1] == 1 else decoded)
    else:
        Image.fromarray(decoded).save(buffer, format="PNG")
    write_atomically(output, buffer.getvalue())
    print(f"{args.output}: {header.modality} {'x'.join(map(str, decoded.shape))}")


def _info(args: argparse.Namespace) -> None:
    data = _read_cmb(Path(args.input))
    header, payload = container.unpack(data)
    shape, blocks = header.shape, header.num_blocks
    if args.prior:
        prior = load_prior(args.prior)
        codec.block_indices(data, prior)  # checks the file against the prior
        shape, blocks = shape or prior.data_shape, len(prior.blocks)
    try:
        kind = get_modality(header.modality, *header.modality_params)
    except ValueError as err:
        raise ContainerError(f"the file is corrupt ({err})") from None
    version = data[len(container.MAGIC)] >> 4
    print(f"format       .cmb version {version}, {len(data)} bytes ({len(payload)} index bytes)")
    if shape is None:
        print(f"modality     {kind!r}, the shape its prior was trained on (give --prior)")
    else:
        print(f"modality     {kind!r}, shape {'x'.join(map(str, shape))}")
        print(f"rate         {kind.rate(len(data), shape[:-1]):.3f} {kind.rate_unit}")
    print(f"coder        {header.coder}, index model {header.index_model}, seed {header.seed}")
    if blocks is not None:
        print(f"blocks       {blocks}")
    if header.side_info:
        print(f"side info    {len(header.side_info)} bytes")
    print(f"prior hash   {header.prior_hash.hex()} (leading bytes of the prior's content hash)")


def _priors(args: argparse.Namespace) -> None:
    for name in available_priors():
        prior = load_prior(name)
        shape = "x".join(map(str, prior.data_shape)) if prior.data_shape else "any shape"
        print(f"{name}: {prior.modality} {shape}, {len(prior.blocks)} blocks, beta {prior.beta:g}")
        for key, text in (prior.notes or {}).items():
            print(f"    {key}: {text}")


def _evaluate(args: argparse.Namespace) -> None:
    from combiner.data import cifar10_samples

    if args.folder:
        data, modality = _training_data(Path(args.folder), args)
        data, anchors, what = data[: args.images], args.anchors, Path(args.folder).name
    else:
        data, modality = cifar10_samples()[0][: args.images], "image"
        anchors, what = args.anchors or "cifar10", "cifar10"
    engine_options = _engine_options(args)
    with engine_for(engine_options.pop("engine"), **engine_options) as engine:
        _evaluate_on(engine, data, modality, anchors, what, args)


def _evaluate_on(
    engine: Engine,
    data: np.ndarray,
    modality: str,
    anchors: str | None,
    what: str,
    args: argparse.Namespace,
) -> None:
    audio = modality == "audio"
    options = {"modality_options": _modality_options(modality, args)}
    log = Path(args.output).with_suffix(".jsonl")
    coder = f", {args.coder}" if args.coder else ""
    label = f"COMBINER ({args.preset}{coder})"
    shipped = [n for n in available_priors() if n.startswith("cifar-learned")]
    sweep = shipped if args.priors is None else args.priors
    for name in sweep:
        row = evaluate.combiner_run(
            data, name, label, args.preset, engine, coder=args.coder, **options
        )
        evaluate.append(log, row)
    ablations = [
        (args.isotropic, "COMBINER isotropic prior", {}),
        (args.ablation_prior if args.mrc else None, "COMBINER with MRC", {"coder": "mrc"}),
        (
            args.ablation_prior if args.no_finetune else None,
            "COMBINER without fine-tuning",
            {"finetune": False},
        ),
    ]
    for prior, run_label, run_options in ablations:
        if prior:
            row = evaluate.combiner_run(
                data, prior, run_label, args.preset, engine, **options, **run_options
            )
            evaluate.append(log, row)
    if args.exact_sample:
        row = evaluate.exact_sample_run(data, args.ablation_prior, args.preset, **options)
        evaluate.append(log, row)
    if args.kl_map:
        path = log.with_name(log.stem + "-kl.png")
        prior = sweep[0] if sweep else args.ablation_prior
        evaluate.kl_map(data[0], prior, args.preset, path, **options)
        print(f"wrote {path}")
    baselines = {"audio": evaluate.audio_baselines, "image": evaluate.image_baselines}
    if not args.no_baselines and modality in baselines:
        rate = (args.sample_rate,) if audio else ()
        for row in baselines[modality](data, *rate):
            evaluate.append(log, row)
    unit = get_modality(modality).rate_unit
    title = args.title or f"{what}, {len(data)} {modality} data"
    evaluate.report(log, anchors, title, unit=unit)
    print(
        f"wrote {log.with_suffix('.csv')}, {log.with_suffix('.md')} and {log.with_suffix('.png')}"
    )


def _demo(args: argparse.Namespace) -> None:
    from combiner import demo

    demo.run(args.prior, args.images, args.preset, Path(args.output))


def build_parser() -> argparse.ArgumentParser:
    """The ``combiner`` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(prog="combiner", description="COMBINER image compression")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (for bug reports)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser(
        "train-prior", help="learn a prior from a folder of images, WAVs or .npy arrays"
    )
    train.add_argument("data")
    train.add_argument("-o", "--output", required=True)
    train.add_argument("--prior", default="learned", choices=["learned", "isotropic"])
    train.add_argument("--beta", type=float, default=2e-5)
    train.add_argument("--kappa", type=int, default=16)
    train.add_argument("--preset", default="fast", choices=sorted(codec.PRESETS))
    train.add_argument(
        "--net",
        choices=sorted(NAMED_NETS),
        help="a paper architecture (default: the CIFAR-sized net with the data's axes/channels)",
    )
    train.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate")
    train.add_argument(
        "--init-variance", type=float, default=9e-6, help="initial posterior variance"
    )
    train.add_argument("--sample-rate", type=int, default=16_000, help="expected WAV sample rate")
    train.add_argument("--chunk", type=int, default=48_000, help="audio chunk length (samples)")
    train.add_argument("--channels-last", action="store_true", help=CHANNELS_LAST_HELP)
    train.add_argument(
        "--shards",
        type=int,
        default=1,
        help="fit the training data in this many slices, in parallel on the engine's workers",
    )
    _add_engine_arguments(train)
    train.set_defaults(run=_train_prior)
    comp = sub.add_parser("compress", help="image (PNG/JPEG), mono WAV or .npy array -> .cmb")
    comp.add_argument("input")
    comp.add_argument("-o", "--output", required=True)
    comp.add_argument(
        "--prior",
        help="a prior file or a shipped prior's name (default: the shipped prior for the "
        "signal's kind and size, see `combiner priors`)",
    )
    comp.add_argument(
        "--beta",
        type=float,
        help="rate: pick the shipped CIFAR prior trained at this beta (see `combiner priors`)",
    )
    comp.add_argument("--coder", help=CODER_HELP)
    comp.add_argument(
        "--no-finetune", action="store_true", help="skip fine-tuning between blocks (faster)"
    )
    comp.add_argument(
        "--preset",
        choices=sorted(codec.PRESETS),
        help=f"default: fast up to {codec.FAST_MAX_POINTS:,} grid points, large-cpu beyond",
    )
    comp.add_argument(
        "--block-order",
        choices=sorted(BLOCK_ORDERS),
        help="the order blocks are coded in (default: the preset's: partition, the paper's, "
        "for large-cpu, hardest-first otherwise); files decode the same either way",
    )
    comp.add_argument("--seed", type=int, default=0)
    comp.add_argument("--sample-rate", type=int, default=16_000, help="expected WAV sample rate")
    comp.add_argument("--channels-last", action="store_true", help=CHANNELS_LAST_HELP)
    comp.set_defaults(run=_compress)
    many = sub.add_parser(
        "compress-dataset",
        help="a folder of signals -> .cmb files and a manifest; resumes, and runs on Ray",
    )
    many.add_argument("input", help="folder of images, WAVs or .npy arrays (searched recursively)")
    many.add_argument("-o", "--output", required=True, help="folder for .cmb files + manifest")
    many.add_argument(
        "--prior", help="a prior file or shipped name (default: the shipped prior per file)"
    )
    many.add_argument("--coder", help=CODER_HELP)
    many.add_argument("--preset", default="fast", choices=sorted(codec.PRESETS))
    many.add_argument("--seed", type=int, default=0)
    many.add_argument("--batch-size", type=int, default=8, help="files fitted together")
    many.add_argument("--threads", type=int, default=1, help="torch threads per batch")
    many.add_argument("--sample-rate", type=int, default=16_000, help="expected WAV sample rate")
    many.add_argument("--channels-last", action="store_true", help=CHANNELS_LAST_HELP)
    _add_engine_arguments(many)
    many.set_defaults(run=_compress_dataset)
    dec = sub.add_parser("decompress", help=".cmb -> PNG (images), WAV (audio) or .npy (arrays)")
    dec.add_argument("input")
    dec.add_argument("-o", "--output", required=True)
    dec.add_argument(
        "--prior", help="the prior the file was made with (default: the shipped prior that made it)"
    )
    dec.set_defaults(run=_decompress)
    demo = sub.add_parser("demo", help="compress the bundled CIFAR-10 images end to end")
    demo.add_argument("--images", type=int, default=4, choices=range(1, 21), metavar="1..20")
    demo.add_argument("--preset", default="fast", choices=sorted(codec.PRESETS))
    demo.add_argument("--prior", default=DEMO_PRIOR)
    demo.add_argument("-o", "--output", default="combiner-demo")
    demo.set_defaults(run=_demo)
    ev = sub.add_parser("evaluate", help="rate-distortion sweep with classical codecs: CSV + plot")
    ev.add_argument(
        "--folder",
        help="images or mono WAVs (cut into --chunk samples) to evaluate "
        "(default: the bundled CIFAR-10 images)",
    )
    ev.add_argument("--images", type=int, default=20, help="use the first N images or chunks")
    ev.add_argument(
        "--anchors",
        choices=sorted(evaluate.ANCHORS),
        help="published points to plot (default: cifar10 for the bundled images)",
    )
    ev.add_argument(
        "--priors",
        nargs="*",
        help="priors of the rate sweep (default: shipped CIFAR; --priors with no name: "
        "skip the sweep)",
    )
    ev.add_argument("--preset", default="fast", choices=sorted(codec.PRESETS))
    ev.add_argument("--coder", help=f"coder of the rate sweep: {CODER_HELP}")
    ev.add_argument("--ablation-prior", default=DEFAULT_PRIOR, help="prior of the ablation runs")
    ev.add_argument("--isotropic", metavar="PRIOR", help="ablation: an isotropic prior")
    ev.add_argument("--mrc", action="store_true", help="ablation: MRC instead of A*")
    ev.add_argument("--no-finetune", action="store_true", help="ablation: no fine-tuning")
    ev.add_argument("--exact-sample", action="store_true", help="reference: KL rate, exact sample")
    ev.add_argument(
        "--kl-map",
        action="store_true",
        help="figure: KL per weight of the first datum under the sweep's first prior "
        "(else --ablation-prior), saved as <output>-kl.png",
    )
    ev.add_argument(
        "--no-baselines", action="store_true", help="skip JPEG, WebP, JPEG 2000 (or MP3)"
    )
    ev.add_argument("-o", "--output", default="combiner-eval/rd", help="output stem")
    ev.add_argument("--title", help="plot title (default: the folder's name and data count)")
    ev.add_argument("--sample-rate", type=int, default=16_000, help="expected WAV sample rate")
    ev.add_argument("--chunk", type=int, default=48_000, help="audio chunk length (samples)")
    ev.add_argument("--channels-last", action="store_true", help=CHANNELS_LAST_HELP)
    _add_engine_arguments(ev)
    ev.set_defaults(run=_evaluate)
    priors = sub.add_parser("priors", help="list the shipped priors with their measured rates")
    priors.set_defaults(run=_priors)
    info = sub.add_parser("info", help="show a .cmb header")
    info.add_argument("input")
    info.add_argument(
        "--prior", help="check the file against this prior; it also tells the shape and blocks"
    )
    info.set_defaults(run=_info)
    return parser


def _message(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return f"{err.filename}: {err.strerror}" if err.filename else err.strerror
    return str(err)


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Exit status 0: done; 2: bad usage or input (a bad file, prior, signal or path; one line on
    stderr); 1: an internal error (one line; ``--debug`` shows the traceback); 3:
    ``compress-dataset`` finished but some files could not be coded (listed on stderr and in
    the manifest); 130: interrupted.
    """
    args = build_parser().parse_args(argv)
    try:
        status = args.run(args)
    except (CombinerError, OSError) as err:
        if args.debug:
            raise
        print(f"combiner: error: {_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("combiner: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # the last line of defence: one line, not a dump
        if args.debug:
            raise
        print(
            f"combiner: internal error: {type(err).__name__}: {err} "
            "(rerun with --debug for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1
    return status or 0
