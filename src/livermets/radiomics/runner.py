"""Run region tasks: in-process, on local worker processes, or on a Dask distributed cluster."""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import multiprocessing
import os
import signal
import socket
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livermets.cohort.manifest import Manifest
from livermets.errors import ConfigError, LivermetsError
from livermets.radiomics.cache import FeatureCache, cache_key, decode_features, encode_features
from livermets.radiomics.compute import run_task
from livermets.radiomics.engines import get_engine
from livermets.radiomics.params import RadiomicsParams
from livermets.radiomics.regions import PatientPlan, RegionTask, plan_patient

MAX_TASK_ATTEMPTS = 2


@dataclass
class RunStats:
    """Counts and timing of one extraction run."""

    n_patients: int = 0
    n_tasks: int = 0
    n_regions_computed: int = 0
    n_regions_cached: int = 0
    n_lesions_done: int = 0
    n_errors: int = 0
    n_texture_skipped: int = 0
    worker_restarts: int = 0
    seconds: float = 0.0
    cache_repairs: list[str] = field(default_factory=list)

    @property
    def lesions_per_second(self) -> float:
        """Lesions finished per second of wall time."""
        return self.n_lesions_done / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ExtractionResult:
    """Region features of a run, the patients' plans, the errors, and the counts."""

    plans: list[PatientPlan] = field(default_factory=list)
    features: dict[tuple[str, str, int | None], dict[str, float]] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    stats: RunStats = field(default_factory=RunStats)


Progress = Callable[[str, dict[str, Any]], None]


class _Backend(ABC):
    """Where jobs run; subclasses submit and wait."""

    @abstractmethod
    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Start ``fn(*args)``; return a future-like handle."""

    @abstractmethod
    def wait_any(self, pending: set[Any]) -> set[Any]:
        """Block until at least one pending handle is done; return the done ones."""

    def result(self, handle: Any) -> Any:
        """The result of a finished handle (raises if its worker died)."""
        return handle.result()

    def restart(self) -> None:  # noqa: B027 - an optional hook; most backends need nothing
        """Replace broken workers (local pools)."""

    def close(self) -> None:  # noqa: B027 - an optional hook; most backends need nothing
        """Release the workers."""

    @property
    def workers(self) -> int:
        """How many jobs run at once."""
        return 1


class _Inline(_Backend):
    """Run jobs in this process (one worker)."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run now; return a finished future (holding the exception if it raised)."""
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # delivered through the future, as in a pool
            future.set_exception(exc)
        return future

    def wait_any(self, pending: set[Any]) -> set[Any]:
        """Everything is already done."""
        return set(pending)


def _die_with_parent() -> None:
    """Worker initialiser: on Linux, end this worker when the main process is killed."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:  # another libc: workers then end when their queue closes
            return


class _LocalPool(_Backend):
    """Local worker processes (fork on Linux: no re-import per worker)."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self.context = multiprocessing.get_context(method)
        self.pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        pool = cf.ProcessPoolExecutor(
            self._workers, mp_context=self.context, initializer=_die_with_parent
        )
        pool.submit(os.getpid).result()  # start the workers before any progress thread
        return pool

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Send a job to the pool."""
        return self.pool.submit(fn, *args)

    def wait_any(self, pending: set[Any]) -> set[Any]:
        """Wait for the first finished job."""
        done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        return set(done)

    def restart(self) -> None:
        """A worker died (killed, out of memory): start a fresh pool."""
        manager = getattr(self.pool, "_executor_manager_thread", None)
        self.pool.shutdown(wait=False, cancel_futures=True)
        # The broken pool's manager thread is still terminating and joining the old workers:
        # forking the new ones while it runs can leave a child with a lock held by a thread
        # that does not exist there. Let it finish first (bounded: a stuck pool is abandoned).
        if manager is not None:
            manager.join(timeout=30)
        self.pool = self._new_pool()

    def close(self) -> None:
        """Stop the workers."""
        self.pool.shutdown(wait=True, cancel_futures=True)

    @property
    def workers(self) -> int:
        """Worker processes."""
        return self._workers


def _check_reachable(address: str) -> None:
    """Fail fast, with a clear message, when nothing listens at a tcp:// scheduler address."""
    if not address.startswith("tcp://"):
        return
    host, _, port = address[len("tcp://"):].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            return
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot connect to the Dask scheduler {address!r}: {exc}. Start one (`dask "
            "scheduler`, dask-jobqueue) and give its address as tcp://HOST:PORT."
        ) from None


class _Dask(_Backend):
    """A Dask distributed scheduler (``tcp://host:8786``, or a ``Client``)."""

    def __init__(self, scheduler: Any) -> None:
        try:
            import distributed
        except ImportError as exc:
            raise ConfigError(
                "--scheduler needs Dask distributed: pip install 'dask[distributed]'"
            ) from exc
        self._distributed = distributed
        self._own = False
        if isinstance(scheduler, distributed.Client):
            self.client = scheduler
        else:
            _check_reachable(str(scheduler))
            try:
                self.client = distributed.Client(scheduler, timeout="20s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise ConfigError(
                    f"cannot connect to the Dask scheduler {scheduler!r}: {exc}. Start one "
                    "(`dask scheduler`, dask-jobqueue) and give its address as tcp://HOST:PORT."
                ) from None
            self._own = True
        self._workers = max(1, len(self.client.scheduler_info().get("workers", {})))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Send a job to the cluster."""
        return self.client.submit(fn, *args, pure=False)

    def wait_any(self, pending: set[Any]) -> set[Any]:
        """Wait for the first finished job."""
        done = self._distributed.wait(list(pending), return_when="FIRST_COMPLETED").done
        return set(done)

    def close(self) -> None:
        """Disconnect (a client we were given stays open)."""
        if self._own:
            self.client.close()

    @property
    def workers(self) -> int:
        """Dask workers."""
        return self._workers


def make_backend(workers: int, scheduler: Any = None) -> _Backend:
    """The backend for ``--workers`` / ``--scheduler``."""
    if scheduler is not None:
        return _Dask(scheduler)
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1 (got {workers}).")
    return _Inline() if workers == 1 else _LocalPool(workers)


@dataclass
class _Job:
    """A submitted job: a patient to plan or a region task to compute."""

    kind: str
    payload: Any
    attempts: int = 0


class _Run:
    """The state of one extraction run (pending jobs, ready tasks, results)."""

    def __init__(self, manifest: Manifest, params: RadiomicsParams, cache: FeatureCache | None,
                 backend: _Backend, progress: Progress) -> None:  # fmt: skip
        self.params = params
        self.cache = cache
        self.backend = backend
        self.progress = progress
        self.engine_version = get_engine(params.engine).version()
        self.params_hash = params.params_hash()
        self.extraction_json = params.extraction.model_dump_json()
        self.rows = list(manifest.rows())
        self.n_rows = len(self.rows)
        self.plans: dict[str, PatientPlan] = {}
        self.ready: list[_Job] = []
        self.retry: list[_Job] = []
        self.pending: dict[Any, _Job] = {}
        self.result = ExtractionResult()

    def _next_job(self) -> _Job | None:
        """Region tasks first (bounded memory), then the next patient to plan."""
        if self.retry:
            return self.retry.pop()
        if self.ready:
            return self.ready.pop(0)
        planning = sum(1 for job in self.pending.values() if job.kind == "plan")
        if self.rows and planning < self.backend.workers:
            return _Job("plan", self.rows.pop(0))
        return None

    def _submit(self, job: _Job) -> None:
        if job.kind == "plan":
            handle = self.backend.submit(plan_patient, job.payload, self.params)
        else:
            handle = self.backend.submit(run_task, job.payload, self.params.engine,
                                         self.extraction_json)  # fmt: skip
        self.pending[handle] = job

    def run(self) -> ExtractionResult:
        """Plan patients and compute regions until nothing is left."""
        slots = 2 * self.backend.workers
        while True:
            while len(self.pending) < slots:
                job = self._next_job()
                if job is None:
                    break
                try:
                    self._submit(job)
                except cf.process.BrokenProcessPool as exc:  # a worker died since the last wait
                    self._after_crash(job, exc)
            if not self.pending:
                break
            for handle in self.backend.wait_any(set(self.pending)):
                job = self.pending.pop(handle)
                try:
                    value = self.backend.result(handle)
                except (cf.process.BrokenProcessPool, cf.CancelledError) as exc:
                    self._after_crash(job, exc)
                    break
                except LivermetsError as exc:
                    self._failed(job, str(exc))
                    continue
                except Exception as exc:  # a worker failure (e.g. Dask KilledWorker)
                    self._failed(job, f"worker failed: {type(exc).__name__}: {exc}")
                    continue
                if job.kind == "plan":
                    self._planned(value)
                else:
                    self._finish(job.payload, value)
        self.result.plans = [self.plans[pid] for pid in self._order if pid in self.plans]
        return self.result

    @property
    def _order(self) -> list[str]:
        return self._row_order

    def start(self) -> None:
        """Remember the manifest order of patients (the output order)."""
        self._row_order = [row.patient_id for row in self.rows]

    def _planned(self, plan: PatientPlan) -> None:
        """A patient is loaded: use cached regions, queue the others (largest first)."""
        self.plans[plan.patient_id] = plan
        self.result.errors.extend(plan.problems)
        self.result.stats.n_patients += 1
        for task in plan.tasks:
            todo = []
            for region in task.regions:
                region.key = cache_key(self.engine_version, self.params_hash, plan.image_hash,
                                       region.mask_hash)  # fmt: skip
                record = self.cache.get(region.key) if self.cache is not None else None
                if record is None:
                    todo.append(region)
                    continue
                _store(self.result, plan.patient_id, region.region, region.lesion_id, record)
                self.result.stats.n_regions_cached += 1
            if todo:
                task.regions = todo
                self.result.stats.n_tasks += 1
                self.ready.append(_Job("task", task))
            elif task.is_lesion:
                self.result.stats.n_lesions_done += 1
        self.ready.sort(key=lambda job: -job.payload.n_voxels)
        self.progress("patient", {"patient": plan.patient_id, "n_patients": self.n_rows,
                                  "n_tasks": len(plan.tasks),
                                  "lesions": sum(t.is_lesion for t in plan.tasks)})  # fmt: skip

    def _failed(self, job: _Job, message: str) -> None:
        """A job failed without killing its worker: record it, keep going."""
        if job.kind == "plan":
            pid = job.payload.patient_id
            self.result.errors.append(_error_row(pid, None, "*", message))
            self.result.stats.n_errors += 1
            self.progress("patient", {"patient": pid, "n_patients": self.n_rows,
                                      "n_tasks": 0, "lesions": 0})  # fmt: skip
            return
        task = job.payload
        items = [{"patient_id": task.patient_id, "region": r.region, "lesion_id": r.lesion_id,
                  "status": "error", "message": message} for r in task.regions]  # fmt: skip
        self._finish(task, items)

    def _after_crash(self, job: _Job, exc: BaseException) -> None:
        """A worker process died: restart the pool, resubmit unfinished jobs (bounded)."""
        lost = [job, *self.pending.values()]
        self.pending.clear()
        self.backend.restart()
        self.result.stats.worker_restarts += 1
        for item in lost:
            item.attempts += 1
            if item.attempts < MAX_TASK_ATTEMPTS:
                self.retry.append(item)
            else:
                self._failed(item, f"a worker process died on this job {item.attempts} times "
                                   f"(out of memory?): {type(exc).__name__}")  # fmt: skip

    def _finish(self, task: RegionTask, items: list[dict]) -> None:
        """Store a finished task: cache first (so nothing is lost), then the result."""
        ok = [it for it in items if it["status"] == "ok"]
        records = [_record(it, self.engine_version, self.params_hash, task.image_hash)
                   for it in ok]  # fmt: skip
        if self.cache is not None:
            self.cache.put(records)
        for rec in records:
            _store(self.result, rec["patient_id"], rec["region"], rec["lesion_id"], rec)
        self.result.stats.n_regions_computed += len(ok)
        for it in items:
            if it["status"] != "ok":
                self.result.stats.n_errors += 1
                self.result.errors.append(
                    _error_row(it["patient_id"], it["lesion_id"], it["region"], it["message"])
                )
        if task.is_lesion:
            self.result.stats.n_lesions_done += 1
        self.progress("done", {"patient": task.patient_id, "lesion": task.is_lesion})


def _error_row(patient: str, lesion_id: int | None, region: str, message: str) -> dict:
    """A row of the errors table."""
    return {"patient_id": patient, "lesion_id": lesion_id, "region": region, "kind": "error",
            "message": message}  # fmt: skip


def _store(
    result: ExtractionResult, patient: str, region: str, lesion_id: int | None, record: dict
) -> None:
    """Keep one region's features (and its texture note) in the result."""
    features = record["features"]
    if isinstance(features, str):
        features = decode_features(features)
    lid = None if lesion_id is None or lesion_id != lesion_id else int(lesion_id)
    result.features[(patient, region, lid)] = features
    if record.get("texture") == "skipped":
        result.stats.n_texture_skipped += 1
        result.errors.append(
            {
                "patient_id": patient,
                "lesion_id": lid,
                "region": region,
                "kind": "texture_skipped",
                "message": record.get("note", ""),
            }
        )


def _record(item: dict, engine_version: str, params_hash: str, image_hash: str) -> dict:
    """A cache record of a successful region result."""
    return {
        "key": item["key"],
        "engine_version": engine_version,
        "params_hash": params_hash,
        "image_hash": image_hash,
        "mask_hash": item["mask_hash"],
        "patient_id": item["patient_id"],
        "region": item["region"],
        "lesion_id": item["lesion_id"],
        "n_voxels": item["n_voxels"],
        "texture": item["texture"],
        "note": item["note"],
        "features": encode_features(item["features"]),
    }


def extract_cohort(
    manifest: Manifest,
    params: RadiomicsParams,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int = 1,
    scheduler: Any = None,
    progress: Progress | None = None,
) -> ExtractionResult:
    """Features of every region of every patient; cached regions are read, not recomputed."""
    get_engine(params.engine)  # an unknown or missing engine fails before any work
    cache = FeatureCache(cache_dir) if cache_dir is not None else None
    start = time.perf_counter()
    backend = make_backend(workers, scheduler)
    run = _Run(manifest, params, cache, backend, progress or (lambda _e, _i: None))
    run.start()
    try:
        result = run.run()
    finally:
        backend.close()
        if cache is not None:
            cache.compact()
            result.stats.cache_repairs = list(cache.repairs)
    result.stats.seconds = time.perf_counter() - start
    return result
