"""rectools' default candidate stream ("philox4x32") computed by torch, on a GPU when there is one.

A GPU encoder and a CPU decoder must agree on every candidate bit for bit. Philox4x32-10 is
integer arithmetic (done here in int64 with masks: the wrapped products keep their low 64 bits,
which is all Philox needs), and the ziggurat's fast path is a table lookup and two exact float
operations, so both are bit-identical on any device. The ~1% of values outside their layer's
rectangle (wedges, tail, retries need ``exp``/``log``, whose last bit may differ between
libraries) are computed by rectools on the CPU, where the decoder computes them. Log weights
are summed in coordinate order, one coordinate at a time, as rectools' kernel does.

[`TorchPhilox32Stream`][combiner.torch_stream.TorchPhilox32Stream] has the name and the output
of [`rectools.Philox32Stream`][rectools.streams.Philox32Stream], so a coder can use it in its
place; files record ``"philox4x32"`` and decode on any machine.

Examples:
    >>> import numpy as np, rectools
    >>> from combiner.torch_stream import TorchPhilox32Stream
    >>> key = rectools.shared_key(seed=1, stream=4)
    >>> z = TorchPhilox32Stream("cpu").standard_normals(key, start=0, count=100, dim=16)
    >>> bool(np.array_equal(z, rectools.Philox32Stream().standard_normals(key, 0, 100, 16)))
    True
"""

from __future__ import annotations

import numpy as np
import torch

import rectools
from rectools import ops, ziggurat

_MASK32 = 0xFFFFFFFF
_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
_WEYL = (0x9E3779B9, 0xBB67AE85)


class TorchPhilox32Stream:
    """The "philox4x32" candidate stream on a torch device.

    Args:
        device: where the candidates are computed (``"cuda"``, ``"cpu"``...).
        values_per_pass: flat values computed per pass (bounds device memory: about 100 bytes
            each).
    """

    name = rectools.Philox32Stream.name
    independent = True

    def __init__(self, device: str | torch.device = "cpu", values_per_pass: int = 1 << 22) -> None:
        self.device = torch.device(device)
        self.values_per_pass = int(values_per_pass)
        self._scales = torch.as_tensor(ziggurat.EDGES * 2.0**-53, device=self.device)
        self._thresholds = torch.as_tensor(ziggurat.THRESHOLDS.astype(np.int64), device=self.device)

    def _raw(self, key: np.ndarray, first: int, total: int) -> torch.Tensor:
        """Raw 64 bits of flat values ``first ...``, int64 (two's complement); ``(total,)``."""
        key32 = ops.philox32_key(key)
        flat = torch.arange(first, first + total, dtype=torch.int64, device=self.device)
        pair = flat >> 1
        c = [pair & _MASK32, pair >> 32, torch.zeros_like(pair), torch.zeros_like(pair)]
        k = [int(key32[0]), int(key32[1])]
        for r in range(10):
            if r:
                k = [(k[i] + _WEYL[i]) & _MASK32 for i in range(2)]
            p0, p1 = c[0] * _MULTIPLIERS[0], c[2] * _MULTIPLIERS[1]
            c = [
                ((p1 >> 32) & _MASK32) ^ c[1] ^ k[0],
                p1 & _MASK32,
                ((p0 >> 32) & _MASK32) ^ c[3] ^ k[1],
                p0 & _MASK32,
            ]
        odd = (flat & 1).bool()
        return torch.where(odd, c[2], c[0]) | (torch.where(odd, c[3], c[1]) << 32)

    def _normals(self, key: np.ndarray, first: int, total: int) -> torch.Tensor:
        raw = self._raw(key, first, total)
        layer = raw & 0xFF
        u = (raw >> 11) & ((1 << 53) - 1)
        sign = 1.0 - 2.0 * ((raw >> 8) & 1).to(torch.float64)
        z = sign * u.to(torch.float64) * self._scales[layer]
        outside = torch.nonzero(u >= self._thresholds[layer]).flatten()
        if outside.numel():
            flat = (outside + first).cpu().numpy()
            z[outside] = torch.as_tensor(ops.philox32_normals_at(key, flat), device=self.device)
        return z

    def standard_normals_tensor(
        self, key: np.ndarray, start: int, count: int, dim: int
    ) -> torch.Tensor:
        """Standard normals of candidates ``start .. start + count - 1`` on the device;
        ``(count, dim)`` float64."""
        return self._normals(key, start * dim, count * dim).reshape(count, dim)

    def standard_normals(self, key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
        """As [`Philox32Stream.standard_normals`][rectools.streams.Philox32Stream], bit for bit."""
        return self.standard_normals_tensor(key, start, count, dim).cpu().numpy()

    def uniforms(self, key: np.ndarray, start: int, count: int, dim: int) -> np.ndarray:
        """As [`Philox32Stream.uniforms`][rectools.streams.Philox32Stream], bit for bit."""
        u = (self._raw(key, start * dim, count * dim) >> 11) & ((1 << 53) - 1)
        return ((u.to(torch.float64) + 0.5) * 2.0**-53).reshape(count, dim).cpu().numpy()

    def gaussian_log_weights(
        self,
        key: np.ndarray,
        start: int,
        count: int,
        scale: np.ndarray,
        shift: np.ndarray,
        offset: float,
    ) -> np.ndarray:
        """As [`Philox32Stream.gaussian_log_weights`][rectools.streams.Philox32Stream], bit for
        bit, a pass of ``values_per_pass`` values at a time; ``(count,)``."""
        dim = scale.shape[0]
        scale_t = torch.as_tensor(scale, device=self.device)
        shift_t = torch.as_tensor(shift, device=self.device)
        out = np.empty(count, dtype=np.float64)
        per_pass = max(1, self.values_per_pass // dim)
        for lo in range(0, count, per_pass):
            n = min(per_pass, count - lo)
            z = self.standard_normals_tensor(key, start + lo, n, dim)
            acc = torch.zeros(n, dtype=torch.float64, device=self.device)
            for j in range(dim):
                # One coordinate at a time: the same additions, in the same order, as rectools.
                y = scale_t[j] * z[:, j] + shift_t[j]
                acc += z[:, j] * z[:, j] - y * y
            out[lo : lo + n] = (offset + 0.5 * acc).cpu().numpy()
        return out
