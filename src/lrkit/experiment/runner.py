"""Training the grid: task references, chunks trained as one batched model, the worker pool.

:func:`run_grid` trains chunks of planned runs, in this thread or in a pool
of worker threads (:func:`make_pool`: a queue for their progress), and hands
each finished chunk to the caller at once, so only the calling thread writes to
the store. Workers rebuild the task from a :class:`TaskRef` (a name, a data file
or a factory) once and share it.

torch is imported by the trainer, on first use.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import Error, InputError
from ..schedule import Schedule
from .grid import Planned
from .recipe import TASK
from .store import Result


@dataclass(frozen=True)
class TaskRef:
    """How to rebuild a task in any process: a built-in name, a data file + target
    column, or a ``package.module:factory``."""

    kind: str  # "builtin" | "file" | "factory"
    name: str
    target: str | None = None

    @classmethod
    def of(cls, task: str | None, data: str | None, target: str | None) -> TaskRef:
        """From the CLI's ``--task`` / ``--data`` / ``--target``."""
        if data is not None:
            if task is not None:
                raise InputError("give either --task or --data, not both")
            if not target:
                raise InputError(f"--data {data!r} needs --target COLUMN")
            return cls("file", data, target)
        if target is not None:
            raise InputError("--target goes with --data FILE")
        name = task or TASK
        from .tasks import BUILTIN

        return cls("builtin" if name in BUILTIN else "factory", name)

    def load(self) -> Any:
        """The :class:`~lrkit.experiment.tasks.Task` (imports torch)."""
        from .tasks import from_file, get_task

        if self.kind == "file":
            return from_file(self.name, str(self.target))
        if self.kind == "factory" and ":" in self.name:  # a PyTorch or a Keras model
            from .factories import load_factory

            return load_factory(self.name)
        return get_task(self.name)

    def ident(self) -> str:
        """What identifies the task in run keys (a data file by its content, not its path)."""
        if self.kind == "file":
            with open(self.name, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()[:16]
            return f"file:{digest}:{self.target}"
        return f"{self.kind}:{self.name}"

    def preload(self) -> list[str]:
        """Modules worth importing once in the pool's server process for this task."""
        builtin_digits = self.kind == "builtin" and self.name.startswith("digits")
        return ["sklearn.datasets"] if builtin_digits else []


@contextlib.contextmanager
def user_code(ref: TaskRef) -> Iterator[None]:
    """A user's model (``--task pkg.mod:factory``) that fails while training is a user
    error (a one-line message), not a crash; runs finished before it stay stored."""
    try:
        yield
    except (Error, KeyboardInterrupt):  # lrkit's own errors already say what was wrong
        raise
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError and friends
        if ref.kind != "factory":
            raise
        msg = " ".join(str(e).split())[:300]
        raise InputError(f"training task {ref.name!r} failed: {type(e).__name__}: {msg}") from e


# -- one chunk (in this process or a worker) ------------------------------------------------

_WORKER: dict[str, Any] = {}


_LOCK = threading.Lock()


def _task_cached(ref: TaskRef) -> Any:
    with _LOCK:  # worker threads share the tasks: load each once
        tasks = _WORKER.setdefault("tasks", {})
        if ref not in tasks:
            tasks[ref] = ref.load()
        return tasks[ref]


def train_chunk(
    ref: TaskRef, runs: Sequence[tuple[str, Schedule, int, str | None]],
    train_kw: dict[str, Any],
    progress: Callable[[int], None] | None = None,
) -> list[Result]:
    """Train one chunk as one batched model; ``progress(n)`` gets run-steps done since
    the last call. ``runs`` are ``(key, schedule, seed, optimizer)`` (optimizer None: the
    training's). Returns ``RunResult.to_dict()`` per run, in order."""
    from .trainer import Run, train

    queue = _WORKER.get("queue")
    if progress is None and queue is not None and threading.current_thread().name.startswith(
            "lrkit-chunk"):
        progress = queue.put
    task = _task_cached(ref)
    if getattr(task, "framework", "torch") == "keras":  # not batchable: model.fit per run
        from .keras_task import train_runs

        if any(o is not None for *_, o in runs):
            raise InputError("the optimizer entries (sf-sgd, sf-adamw, prodigy) need a PyTorch "
                             "task; a Keras task trains with its compiled optimizer")
        plain = [(k, s, seed) for k, s, seed, _ in runs]
        return [x.to_dict() for x in train_runs(task, plain, progress=progress, **train_kw)]
    r = len(runs)
    last = [0]

    def cb(step: int, total: int) -> None:
        if progress is not None and (step - last[0] >= 8 or step == total):
            progress((step - last[0]) * r)
            last[0] = step

    results = train(task, [Run(k, s, seed, o) for k, s, seed, o in runs],
                    progress=cb, **train_kw)
    return [x.to_dict() for x in results]


# -- the grid -------------------------------------------------------------------------------


def run_grid(
    ref: TaskRef, chunks: Sequence[Sequence[Planned]], train_kw: dict[str, Any],
    on_done: Callable[[Sequence[Planned], list[Result]], None], *, jobs: int = 1,
    progress: Callable[[int], None] | None = None, pool: Any = None,
) -> None:
    """Train ``chunks`` and hand each finished chunk to ``on_done`` at once (in the
    calling process, so only it writes to the store).

    ``jobs == 1`` trains in this thread (on the caller's torch threads); otherwise
    ``pool`` (see :func:`make_pool`) or a new pool of ``jobs`` threads takes the chunks.
    """
    payload = [[(p.key, p.schedule, p.seed, p.optimizer) for p in c] for c in chunks]
    if jobs <= 1 or len(chunks) <= 1:
        for chunk, runs in zip(chunks, payload):
            on_done(chunk, train_chunk(ref, runs, train_kw, progress))
        return
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, wait

    own = pool is None
    if own:
        pool = make_pool(jobs)
    try:
        futures = {pool.submit(train_chunk, ref, runs, train_kw): c
                   for c, runs in zip(chunks, payload)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            while True:
                try:
                    n = pool.lrkit_queue.get_nowait()
                except queue_mod.Empty:
                    break
                if progress is not None:
                    progress(n)
            for f in sorted(done, key=lambda f: chunks.index(futures[f])):
                on_done(futures[f], f.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        if own:
            pool.shutdown(wait=True)


def make_pool(jobs: int, preload: Sequence[str] = ()) -> Any:
    """A pool of ``jobs`` worker *threads* in this process, with a progress queue.

    Threads, not processes: torch releases the GIL inside every operation and a
    batched chunk's operations are large, so two threads (one torch thread each,
    ``compare`` sets it) train two chunks at once at 1.7x the speed of one on two
    cores, measured, while ``torch.set_num_threads(2)`` on one chunk was slower than
    one thread; and a thread pool starts at once (no forkserver importing torch),
    shares the loaded task, and leaves no process behind. Results equal ``jobs=1``'s
    bit for bit (each chunk computes alone, on one torch thread). ``preload`` is
    accepted for compatibility and unused.
    """
    import queue
    from concurrent.futures import ThreadPoolExecutor

    q: queue.Queue[int] = queue.Queue()
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="lrkit-chunk")
    pool.lrkit_queue = q  # type: ignore[attr-defined]
    _WORKER["queue"] = q
    return pool
