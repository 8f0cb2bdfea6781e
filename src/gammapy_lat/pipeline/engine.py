"""A small task-graph executor on top of `gammapy.utils.parallel`.

Each `Task` produces exactly one file, named after the content hash of its inputs, and writes it
atomically. The missing products of a graph are computed in ONE call of
`gammapy.utils.parallel.run_multiprocessing` (one pool of local processes or of Ray actors), with
the tasks submitted in topological order: a task first waits until the products it depends on
exist. Workers take tasks in submission order (one shared queue for local processes, round-robin
FIFO queues for Ray actors), so the oldest unfinished task always has its inputs and the run cannot
deadlock. A failed task leaves a ``.failed`` marker next to its product so that the tasks waiting
for it give up at once. Products already present are not recomputed: a rerun after a crash or a
kill resumes where the previous run stopped.
"""
import contextlib
import logging
import os
import resource
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from gammapy.utils import parallel

from ..errors import OutputError, PipelineError
from ..utils import atomic_output, folder_lock

__all__ = ["Task", "TaskGraph", "TaskResult", "RunReport", "PipelineError", "Executor", "outdir_lock"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    """One unit of work producing one file.

    Parameters
    ----------
    key : str
        Content hash of everything the product depends on; part of ``output``'s name.
    kind : str
        Step name (``"counts"``, ``"livetime"``, ...), used for reporting.
    label : str
        Human-readable description (component, input file, chunk).
    output : `~pathlib.Path`
        The product. The function must write it atomically.
    func : callable
        Module-level function called as ``func(output, **kwargs)`` in a worker; returns a small
        dict of figures for the summary (or None).
    kwargs : dict
        Picklable keyword arguments (paths, numbers, plain dicts).
    deps : tuple of str
        Keys of the tasks whose products this task reads.
    """

    key: str
    kind: str
    label: str
    output: Path
    func: Callable
    kwargs: dict = field(default_factory=dict, hash=False, compare=False)
    deps: tuple = ()


@dataclass
class TaskResult:
    """What a worker sends back: never the product itself, only small figures."""

    key: str
    kind: str
    label: str
    status: str  # "done", "present", "failed" or "skipped" (an input failed)
    seconds: float = 0.0
    pid: int = 0
    maxrss_mb: float = 0.0
    info: dict = field(default_factory=dict)
    error: str = ""


@dataclass
class RunReport:
    """Summary of one run of a task graph."""

    n_tasks: int = 0
    n_present: int = 0
    n_done: int = 0
    wall_time: float = 0.0
    results: list = field(default_factory=list)

    @property
    def peak_memory_mb(self):
        """Peak resident memory (MB) of each worker process id that ran tasks."""
        peak = {}
        for r in self.results:
            if r.status == "done":
                peak[r.pid] = max(peak.get(r.pid, 0.0), r.maxrss_mb)
        return peak

    def by_kind(self):
        """``{kind: (n_done, total task seconds)}``."""
        out = {}
        for r in self.results:
            n, s = out.get(r.kind, (0, 0.0))
            out[r.kind] = (n + (r.status == "done"), s + r.seconds)
        return out


def _maxrss_mb():
    # Linux reports kilobytes
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def failure_marker(output):
    """Path of the marker a failed task leaves next to its product."""
    output = Path(output)
    return output.with_name(output.name + ".failed")


def _wait_for(inputs, poll):
    """Wait until every path in ``inputs`` exists; return the first failed one, else None."""
    pending = [Path(p) for p in inputs]
    while pending:
        for path in pending:
            if failure_marker(path).exists():
                return path
        pending = [p for p in pending if not p.exists()]
        if pending:
            time.sleep(poll)
    return None


def execute_task(func, output, kwargs, key, kind, label, wait_for=(), poll=0.05):
    """Run one task in a worker; never raises (errors are returned in the `TaskResult`).

    ``wait_for`` lists the products of the task's dependencies still being computed in this run.
    """
    output = Path(output)
    if output.exists():
        return TaskResult(key, kind, label, "present", pid=os.getpid())
    failed_input = _wait_for(wait_for, poll)
    t0 = time.perf_counter()
    error = None
    if failed_input is not None:
        error = f"input {failed_input.name} failed"
    else:
        try:
            info = func(output, **kwargs) or {}
        except FileExistsError:
            # the same product was completed concurrently (same name = same inputs)
            info = {}
        except Exception as exc:  # reported in the main process with the task's label
            error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        else:
            if not output.exists():
                error = f"no product written at {output}"
    if error is not None:
        try:
            with atomic_output(failure_marker(output), overwrite=True) as tmp:
                tmp.write_text(error)
        except OSError:
            pass
        status = "skipped" if failed_input is not None else "failed"
        return TaskResult(
            key, kind, label, status, seconds=time.perf_counter() - t0, pid=os.getpid(), error=error
        )
    return TaskResult(
        key, kind, label, "done", seconds=time.perf_counter() - t0, pid=os.getpid(), maxrss_mb=_maxrss_mb(), info=info
    )


class TaskGraph:
    """Tasks keyed by their content hash, with dependencies."""

    def __init__(self):
        self._tasks = {}

    def __len__(self):
        return len(self._tasks)

    def __iter__(self):
        return iter(self._tasks.values())

    def __getitem__(self, key):
        return self._tasks[key]

    def add(self, task):
        """Add a task; an identical task (same key and output) is added only once.

        Returns
        -------
        task : `Task`
            The task in the graph.
        """
        existing = self._tasks.get(task.key)
        if existing is not None:
            if existing.output != task.output:
                raise PipelineError(
                    f"Task {task.label}: key {task.key} already used for {existing.output}, not {task.output}"
                )
            return existing
        for dep in task.deps:
            if dep not in self._tasks:
                raise PipelineError(f"Task {task.label}: dependency {dep} is not in the graph")
        outputs = {t.output: t for t in self._tasks.values()}
        if task.output in outputs:
            raise PipelineError(
                f"Tasks {outputs[task.output].label!r} and {task.label!r} would write the same file {task.output}"
            )
        self._tasks[task.key] = task
        return task

    def levels(self):
        """Tasks grouped in levels: every task depends only on tasks of earlier levels."""
        depth = {}
        for task in self._tasks.values():  # insertion order is a topological order
            depth[task.key] = 1 + max((depth[d] for d in task.deps), default=-1)
        n = max(depth.values(), default=-1) + 1
        levels = [[] for _ in range(n)]
        for task in self._tasks.values():
            levels[depth[task.key]].append(task)
        return levels


@contextlib.contextmanager
def outdir_lock(outdir):
    """Exclusive lock on an output folder for the duration of a run.

    The lock of `gammapy_lat.utils.folder_lock` (``<outdir>/.gammapy-lat.lock``), also taken by
    ``gammapy-lat run``: two runs on the same folder would replace each other's products. While it
    is held, the temporary files left by killed runs of gammapy-lat are removed (only those of the
    package whose owner process has ended: files of other programs and of commands running at the
    same time are kept).
    """
    try:
        with folder_lock(outdir, what="pipeline or analysis run"):
            yield
    except OutputError as exc:
        if "in use" not in str(exc):
            raise
        raise PipelineError(str(exc)) from None


class Executor:
    """Run a `TaskGraph` through `gammapy.utils.parallel.run_multiprocessing`.

    Parameters
    ----------
    n_jobs : int
        Number of worker processes (1: run in this process).
    backend : {"multiprocessing", "ray"}, optional
        Parallel backend; default `gammapy.utils.parallel.BACKEND_DEFAULT`.
    ray_address : str, optional
        Address of a Ray cluster (``"auto"``, ``"ray://host:10001"``); without it a running Ray
        instance is used, or a local one is started.
    progress : callable, optional
        Called as ``progress(result, n_finished, n_total)`` in the main process after each task.
    """

    def __init__(self, n_jobs=1, backend=None, ray_address=None, progress=None):
        self.n_jobs = int(n_jobs)
        self.backend = backend if backend is not None else parallel.BACKEND_DEFAULT
        if hasattr(self.backend, "value"):
            self.backend = self.backend.value
        self.ray_address = ray_address
        self.progress = progress

    def _pool_kwargs(self):
        kwargs = {"processes": self.n_jobs}
        if self.backend == "ray" and self.ray_address is not None:
            kwargs["ray_address"] = self.ray_address
        return kwargs

    def run(self, graph):
        """Compute all missing products of ``graph``.

        Returns
        -------
        report : `RunReport`

        Raises
        ------
        PipelineError
            If tasks failed (after all tasks that do not depend on them have finished, so that
            every product completed is kept for the next run).
        """
        t0 = time.perf_counter()
        report = RunReport(n_tasks=len(graph))
        ordered = [task for level in graph.levels() for task in level]
        todo = []
        for task in ordered:
            failure_marker(task.output).unlink(missing_ok=True)
            if task.output.exists():
                report.n_present += 1
                report.results.append(TaskResult(task.key, task.kind, task.label, "present"))
            else:
                todo.append(task)
        counter = {"n": report.n_present}
        if self.progress:
            for result in report.results:
                self.progress(result, report.n_present, report.n_tasks)
        if todo:
            missing = {t.key for t in todo}
            inputs = [
                (
                    t.func,
                    t.output,
                    t.kwargs,
                    t.key,
                    t.kind,
                    t.label,
                    tuple(str(graph[d].output) for d in t.deps if d in missing),
                )
                for t in todo
            ]

            def callback(result):
                counter["n"] += 1
                if self.progress:
                    self.progress(result, counter["n"], report.n_tasks)
                return result

            raw = parallel.run_multiprocessing(
                execute_task,
                inputs,
                backend=self.backend,
                pool_kwargs=self._pool_kwargs(),
                method="apply_async",
                method_kwargs={"callback": callback},
                task_name="allsky",
            )
            results = [r if isinstance(r, TaskResult) else r.get() for r in raw]
            report.results.extend(results)
            report.n_done = sum(r.status == "done" for r in results)
        report.wall_time = time.perf_counter() - t0
        failed = [r for r in report.results if r.status == "failed"]
        if failed:
            skipped = sum(r.status == "skipped" for r in report.results)
            details = "\n".join(f"- {r.label}: {r.error.strip().splitlines()[0]}" for r in failed)
            for r in failed:
                log.debug(f"{r.label} failed:\n{r.error}")
            raise PipelineError(
                f"{len(failed)} task(s) failed ({skipped} dependent task(s) not run); completed products "
                f"are kept and a rerun resumes from them:\n{details}"
            )
        return report
