"""Dataset throughput on Ray: 40 CIFAR images with 1 worker, then 2, byte-identical files.

Copies the 20 bundled CIFAR-10 and 20 CIFAR-100 test images into a folder, compresses it with
``combiner compress-dataset``'s Python twin on a local Ray of 1 and then 2 workers (each run
starts its own Ray, so start-up is counted), and prints files/s of each, the ratio (issue 14:
at least 1.7x on 2 cores) and whether the two output folders are identical.

Run: ``python benchmarks/dataset_throughput.py`` (about 8 minutes with the ``fast`` preset on
2 cores; ``--preset`` and ``--batch-size`` change it).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from combiner.data import cifar10_samples, cifar100_samples
from combiner.dataset import compress_dataset
from rectools.bench import format_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        images = np.concatenate([cifar10_samples()[0], cifar100_samples()[0]])
        for i, image in enumerate(images):
            Image.fromarray((image * 255).round().astype(np.uint8)).save(folder / f"{i:02d}.png")
        rows, outputs = [], {}
        for workers in (1, 2):
            out = Path(tmp) / f"out-{workers}"
            summary = compress_dataset(
                folder, out, preset=args.preset, batch_size=args.batch_size,
                engine="ray", workers=workers, progress=False,
            )  # fmt: skip
            outputs[workers] = {p.name: p.read_bytes() for p in sorted(out.glob("*.cmb"))}
            rows.append(
                {
                    "workers": workers,
                    "files": summary.done,
                    "seconds": round(summary.seconds, 1),
                    "files_per_s": round(summary.files_per_second, 3),
                    "mean_bpp": round(summary.mean_bpp, 3),
                    "mean_psnr_db": round(summary.mean_psnr_db, 2),
                }
            )
    print(format_table(rows))
    ratio = rows[1]["files_per_s"] / rows[0]["files_per_s"]
    print(
        f"\n2 workers / 1 worker throughput: {ratio:.2f}x (preset {args.preset}, batches of "
        f"{args.batch_size}); files byte-identical: {outputs[1] == outputs[2]}"
    )


if __name__ == "__main__":
    main()
