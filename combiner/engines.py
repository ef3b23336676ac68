"""Where batches of work run: this process, local worker processes, or a Ray cluster.

An engine maps one function over work items and yields ``(item, result)`` pairs as items
finish, in any order; ``result`` is the function's return value or the exception that ended
the item (after the engine's retries). Every engine takes the same items and runs the same
function, so what it computes never depends on which engine ran it. Engines are registered by
name (``"local"``, ``"ray"``); pick one with [`get_engine`][combiner.engines.get_engine].

Ray is optional (``pip install 'combiner[ray]'``): without it, everything but the ``"ray"``
engine works, and asking for that one says how to install it.

Examples:
    >>> from combiner.engines import get_engine
    >>> sorted(r for _, r in get_engine("local").map_unordered(pow, [2, 3], shared=2))
    [4, 9]
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Protocol

import rectools
from combiner.errors import InputError

Result = Any


class Engine(Protocol):
    """Runs ``fn(item, shared)`` for every item; yields ``(item, result or exception)``."""

    name: str
    workers: int

    def map_unordered(
        self, fn: Callable[[Any, Any], Result], items: Iterable[Any], shared: Any
    ) -> Iterator[tuple[Any, Result | BaseException]]:
        """Run ``fn`` on every item (``shared`` is sent to each worker once)."""
        ...

    def close(self) -> None:
        """Release what the engine started."""
        ...


class LocalEngine:
    """This process (``workers=1``) or a pool of spawned worker processes.

    A worker that dies (killed, out of memory) breaks the pool: its item and every item not yet
    finished come back as errors, and a rerun of a resumable job redoes them.
    """

    name = "local"

    def __init__(self, workers: int = 1, **_: object) -> None:
        if workers < 1:
            raise InputError("workers must be at least 1")
        self.workers = int(workers)

    def map_unordered(
        self, fn: Callable[[Any, Any], Result], items: Iterable[Any], shared: Any
    ) -> Iterator[tuple[Any, Result | BaseException]]:
        """See [`Engine.map_unordered`][combiner.engines.Engine.map_unordered]."""
        if self.workers == 1:
            for item in items:
                try:
                    yield item, fn(item, shared)
                except Exception as err:  # one bad item must not stop the others
                    yield item, err
            return
        context = multiprocessing.get_context("spawn")  # safe with torch and CUDA
        with ProcessPoolExecutor(self.workers, mp_context=context) as pool:
            pending = {pool.submit(fn, item, shared): item for item in items}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item = pending.pop(future)
                    error = future.exception()
                    yield item, (error if error is not None else future.result())

    def close(self) -> None:
        """Nothing to release: the pool lives only while ``map_unordered`` runs."""


class RayEngine:
    """Tasks on Ray: a local Ray started on demand (``workers`` CPUs), or an existing cluster.

    Each item is one task of one CPU; a task whose worker dies is retried up to ``retries``
    times (Ray re-runs it on another worker), so a lost worker costs only its item.

    Args:
        workers: CPUs of the local Ray started when ``address`` is ``None``.
        address: an existing cluster (``"auto"``, ``"ray://host:10001"``...).
        retries: re-runs of a task whose worker died.
    """

    name = "ray"

    def __init__(self, workers: int = 2, address: str | None = None, retries: int = 2) -> None:
        try:
            import ray
        except ImportError:
            raise InputError(
                "the ray engine needs Ray: pip install 'combiner[ray]' (or pip install ray)"
            ) from None
        if workers < 1 or retries < 0:
            raise InputError("workers must be at least 1 and retries at least 0")
        self._ray = ray
        self.retries = int(retries)
        self._started = not ray.is_initialized()
        if self._started:
            options = {"address": address} if address else {"num_cpus": int(workers)}
            try:
                ray.init(**options, include_dashboard=False, logging_level="ERROR")
            except (ConnectionError, RuntimeError, ValueError) as err:
                where = f"the Ray cluster at {address}" if address else "a local Ray"
                raise InputError(f"could not start or join {where}: {err}") from None
        self.workers = int(ray.cluster_resources().get("CPU", workers))

    def map_unordered(
        self, fn: Callable[[Any, Any], Result], items: Iterable[Any], shared: Any
    ) -> Iterator[tuple[Any, Result | BaseException]]:
        """See [`Engine.map_unordered`][combiner.engines.Engine.map_unordered]."""
        ray = self._ray
        task = ray.remote(num_cpus=1, max_retries=self.retries, retry_exceptions=False)(_apply)
        fn_ref, shared_ref = ray.put(fn), ray.put(shared)
        pending = {task.remote(fn_ref, item, shared_ref): item for item in items}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            item = pending.pop(done[0])
            try:
                yield item, ray.get(done[0])
            except Exception as err:  # the task failed, or its worker died once too often
                yield item, getattr(err, "cause", None) or err

    def close(self) -> None:
        """Shut down the local Ray this engine started (a cluster it joined stays up)."""
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()


def _apply(fn: Callable[[Any, Any], Result], item: Any, shared: Any) -> Result:
    # One remote function for every callable: Ray takes functions, not partials or objects.
    return fn(item, shared)


ENGINES: dict[str, Callable[..., Engine]] = {
    LocalEngine.name: LocalEngine,
    RayEngine.name: RayEngine,
}


def get_engine(name: str, workers: int = 1, **options: object) -> Engine:
    """The engine registered as ``name`` (``"local"`` or ``"ray"``) with ``workers``.

    Raises:
        InputError: an unknown name, or Ray asked for but not installed.
    """
    try:
        factory = ENGINES[name]
    except KeyError:
        raise InputError(f"unknown engine {name!r}; choose one of {sorted(ENGINES)}") from None
    return factory(workers=workers, **options)


@contextlib.contextmanager
def engine_for(engine: str | Engine, workers: int = 1, **options: object) -> Iterator[Engine]:
    """``engine`` itself, or the engine registered under that name for the ``with`` block.

    An engine made here is closed when the block ends; one passed in stays open (its owner
    closes it), so a caller may reuse one Ray session for many jobs.
    """
    if not isinstance(engine, str):
        yield engine
        return
    runner = get_engine(engine, workers, **options)
    try:
        yield runner
    finally:
        runner.close()


def threads_per_worker(engine: Engine) -> int:
    """Torch threads each of ``engine``'s workers may use: this machine's CPUs shared out."""
    return max(1, rectools.available_workers() // engine.workers)
