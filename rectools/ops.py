"""The kernels callers use: numba's when numba is installed, the NumPy twins otherwise."""

from rectools._jit import HAVE_NUMBA

if HAVE_NUMBA:
    from rectools.kernels import (
        astar_scan,
        gaussian_log_weights,
        gaussian_stretch,
        gaussian_stretch_many,
        gaussian_stretch_table,
        gprs_bnb_search,
        normal_log_weights,
        philox32_gaussian_log_weights,
        philox32_key,
        philox32_normals,
        philox32_normals_at,
        philox32_uniforms,
        philox_exponentials,
        philox_normals,
        philox_uniforms,
        splitmix_normals32,
    )
else:  # pragma: no cover - depends on the environment
    from rectools.kernels_reference import (
        astar_scan,
        gaussian_log_weights,
        gaussian_stretch,
        gaussian_stretch_many,
        gaussian_stretch_table,
        gprs_bnb_search,
        normal_log_weights,
        philox32_gaussian_log_weights,
        philox32_key,
        philox32_normals,
        philox32_normals_at,
        philox32_uniforms,
        philox_exponentials,
        philox_normals,
        philox_uniforms,
        splitmix_normals32,
    )

__all__ = [
    "astar_scan",
    "gaussian_log_weights",
    "gaussian_stretch",
    "gaussian_stretch_many",
    "gaussian_stretch_table",
    "gprs_bnb_search",
    "normal_log_weights",
    "philox32_gaussian_log_weights",
    "philox32_key",
    "philox32_normals",
    "philox32_normals_at",
    "philox32_uniforms",
    "philox_exponentials",
    "philox_normals",
    "philox_uniforms",
    "splitmix_normals32",
]
