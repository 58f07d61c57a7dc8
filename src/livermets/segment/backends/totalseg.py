"""The ``totalsegmentator`` backend: TotalSegmentator's Python API for the liver (task ``total``)
and liver lesions (task ``liver_lesions``, or ``liver_vessels`` for its ``liver_tumor`` class).

Before anything is written, every weights folder the chosen tasks need (their own and the crop
model's) is looked up where TotalSegmentator keeps weights; a missing one is downloaded when
allowed, and otherwise the error names each missing task and weights folder and says how to
install them offline. Images go to TotalSegmentator as NIfTI written by SimpleITK (never as DICOM,
whose conversion has given wrong affines), and its output is put back on the image grid by
physical position, so orientation and spacing always match the image.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from pydantic import BaseModel, ConfigDict

from livermets.cohort import PatientRow
from livermets.errors import ConfigError, LivermetsError
from livermets.io import geometry_differences, resample_to
from livermets.segment.backends.base import BACKENDS, RawSegmentation

LIVER_TASKS = ("total", "total_mr", "none")
LESION_TASKS = {
    "liver_lesions": "liver_lesions",
    "liver_lesions_mr": "liver_lesions",
    "liver_vessels": "liver_tumor",
    "none": "",
}
RELEASES = "https://github.com/wasserth/TotalSegmentator/releases/download"
INSTALL_HINT = (
    "Install the optional extra with the pins that keep the CPU torch: pip install "
    "torch==2.13.0 'dynamic-network-architectures<0.4.1' 'livermets[totalseg]'."
)


class MissingWeightsError(LivermetsError):
    """Model weights a backend needs are not installed and cannot be downloaded."""


@dataclass(frozen=True)
class WeightsNeed:
    """One weights folder a task needs."""

    task: str
    role: str
    task_id: int | str
    folder: str
    url: str | None


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send a library's prints to stderr, so that stdout stays clean for --json output."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _import_totalseg() -> Any:
    try:
        with stdout_to_stderr():
            from totalsegmentator import python_api
    except ImportError as exc:
        raise ConfigError(f"TotalSegmentator is not installed ({exc}). {INSTALL_HINT}") from exc
    return python_api


def _weights_dir() -> Path:
    from totalsegmentator.config import get_weights_dir

    return Path(get_weights_dir())


def _need(task: str, role: str, task_id: int | str) -> WeightsNeed:
    from totalsegmentator.map_tasks_config import TASK_ID_WEIGHTS_CONFIGS

    info = TASK_ID_WEIGHTS_CONFIGS[task_id]
    folder = info["foldername"]
    if info.get("rel_path"):
        folder = str(Path(info["rel_path"]) / folder)
    version = info.get("version")
    # released weights have versions such as 'v2.0.0-weights'; placeholders have no URL
    url = None
    if isinstance(version, str) and version.startswith("v"):
        url = f"{RELEASES}/{version}/{info['foldername']}.zip"
    return WeightsNeed(task, role, task_id, folder, url)


def required_weights(task: str, fast: bool = False, roi_subset: bool = False) -> list[WeightsNeed]:
    """Every weights folder TotalSegmentator needs for a task: the task's and its crop model's."""
    api = _import_totalseg()
    try:
        with stdout_to_stderr():
            config = api.get_task_config(task, fast=fast, quiet=True)
    except ValueError as exc:
        raise ConfigError(f"TotalSegmentator task {task!r}: {exc}.") from exc
    ids = config["task_id"] if isinstance(config["task_id"], list) else [config["task_id"]]
    needs = [_need(task, "model", tid) for tid in ids]
    if config.get("crop") is not None or roi_subset or config.get("cascade"):
        crop = config.get("crop") or []
        if config.get("crop_model") is not None:
            needs += required_weights(config["crop_model"])
        elif task.endswith("_mr"):
            needs.append(_need(task, "crop model", 852))
        elif any(c in ("body_trunc", "body_extremities") for c in crop):
            needs.append(_need(task, "crop model", 300))
        else:
            needs.append(_need(task, "crop model", 297 if config.get("robust_crop") else 298))
    return needs


def _installed(weights_dir: Path, need: WeightsNeed) -> bool:
    folder = weights_dir / need.folder
    return folder.is_dir() and any(folder.rglob("checkpoint_final.pth"))


def _network_reason(url: str | None, timeout: float = 10.0) -> str | None:
    """None when the download host answers, else why not."""
    host = "github.com"
    if url and "://" in url:
        host = url.split("://", 1)[1].split("/", 1)[0].split(":")[0]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host}:443 unreachable: {type(exc).__name__}: {exc}"


def missing_weights_message(missing: list[WeightsNeed], weights_dir: Path, reason: str) -> str:
    """The error text for missing TotalSegmentator weights: which, where, and how to install."""
    lines = [
        f"TotalSegmentator weights are missing and {reason}; nothing was written.",
        "Missing (task, role: weights folder, download):",
    ]
    for need in missing:
        lines.append(
            f"  - task '{need.task}', {need.role}: {need.folder} (weights id {need.task_id}), "
            f"{need.url or 'licensed model: set --license-key, then download'}"
        )
    tasks = " ".join(dict.fromkeys(n.task for n in missing))
    lines += [
        f"Weights folder: {weights_dir} (set by TOTALSEG_WEIGHTS_PATH, else "
        "TOTALSEG_HOME_DIR/nnunet/results, default ~/.totalsegmentator/nnunet/results).",
        "To install offline: on a machine with internet download each zip above (or run "
        f"`totalseg_download_weights -t TASK` for {tasks} there and copy the listed folders "
        "from its weights folder); then here either unzip each zip into the weights folder "
        "(`totalseg_import_weights -i FILE.zip` does this), or unzip them into any folder DIR "
        "and pass --weights-dir DIR (it sets TOTALSEG_WEIGHTS_PATH).",
    ]
    return "\n".join(lines)


class TotalSegmentatorOptions(BaseModel):
    """Options of the ``totalsegmentator`` backend: the ``liver_task`` (total | total_mr | none),
    the ``lesion_task`` (liver_lesions | liver_lesions_mr | liver_vessels | none), ``fast`` (3 mm
    liver model), the ``device`` (cpu | gpu | gpu:N | mps), a ``license_key`` for licensed tasks,
    a ``weights_dir`` of unzipped weights, and whether missing weights may be downloaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    liver_task: str = "total"
    lesion_task: str = "liver_lesions"
    fast: bool = False
    device: str = "cpu"
    license_key: str | None = None
    weights_dir: Path | None = None
    download: bool = True


class TotalSegmentatorBackend:
    """Liver from a ``total`` task, lesions from a liver-lesion task, through the Python API."""

    name = "totalsegmentator"

    def __init__(
        self,
        liver_task: str = "total",
        lesion_task: str = "liver_lesions",
        fast: bool = False,
        device: str = "cpu",
        license_key: str | None = None,
        weights_dir: str | Path | None = None,
        download: bool = True,
    ) -> None:
        """Validate the task choice; nothing is imported or checked yet."""
        if liver_task not in LIVER_TASKS:
            raise ConfigError(f"liver task must be one of {LIVER_TASKS}, got {liver_task!r}.")
        if lesion_task not in LESION_TASKS:
            raise ConfigError(
                f"lesion task must be one of {sorted(LESION_TASKS)}, got {lesion_task!r}."
            )
        if liver_task == "none" and lesion_task == "none":
            raise ConfigError("choose a liver task, a lesion task or both (both are 'none').")
        self.liver_task = liver_task
        self.lesion_task = lesion_task
        self.fast = fast
        self.device = device
        self.license_key = license_key
        self.weights_dir = Path(weights_dir).expanduser().resolve() if weights_dir else None
        self.download = download

    def _tasks(self) -> list[tuple[str, bool, bool]]:
        """(task, fast, roi_subset) per TotalSegmentator run."""
        tasks = []
        if self.liver_task != "none":
            tasks.append((self.liver_task, self.fast, True))
        if self.lesion_task != "none":
            tasks.append((self.lesion_task, False, False))
        return tasks

    def needs(self) -> list[WeightsNeed]:
        """Every weights folder of the chosen tasks, without duplicates."""
        seen: dict[tuple[int | str], WeightsNeed] = {}
        for task, fast, roi in self._tasks():
            for need in required_weights(task, fast, roi):
                seen.setdefault((need.task_id,), need)
        return list(seen.values())

    def signature(self) -> dict[str, Any]:
        """Backend, tasks and the fast flag."""
        return {
            "backend": self.name,
            "liver_task": self.liver_task,
            "lesion_task": self.lesion_task,
            "fast": self.fast,
        }

    def check(self) -> None:
        """Make sure every weights folder is installed (downloading when allowed) or raise."""
        _import_totalseg()
        if self.weights_dir is not None:
            os.environ["TOTALSEG_WEIGHTS_PATH"] = str(self.weights_dir)
        weights_dir = _weights_dir()
        missing = [n for n in self.needs() if not _installed(weights_dir, n)]
        if not missing:
            return
        if not self.download:
            reason = "downloads are off (--offline)"
        else:
            reason = _network_reason(missing[0].url)
            if reason is None:
                reason = self._download(missing)
            missing = [n for n in missing if not _installed(weights_dir, n)]
            if not missing:
                return
            reason = f"could not be downloaded ({reason or 'download left no weights'})"
        raise MissingWeightsError(missing_weights_message(missing, weights_dir, reason))

    def _download(self, missing: list[WeightsNeed]) -> str | None:
        from totalsegmentator.libs import download_pretrained_weights

        if self.license_key:
            from totalsegmentator.config import set_license_number, setup_totalseg

            setup_totalseg()
            set_license_number(self.license_key)
        for need in missing:
            try:
                with stdout_to_stderr():
                    download_pretrained_weights(need.task_id)
            except Exception as exc:  # requests, zipfile and OS errors all mean "not downloaded"
                return f"{type(exc).__name__}: {exc}"
        return None

    def _run(self, path: Path, task: str, fast: bool, roi: bool) -> sitk.Image:
        api = _import_totalseg()
        from totalsegmentator.config import set_config_key, setup_totalseg

        with stdout_to_stderr():
            setup_totalseg()
            set_config_key("send_usage_stats", False)  # no network at run time
            result = api.totalsegmentator(
                path, None, task=task, fast=fast, roi_subset=["liver"] if roi else None,
                device=self.device, quiet=True, license_number=self.license_key,
                nr_thr_saving=1,
            )  # fmt: skip
        import nibabel as nib

        out = path.with_name(f"{task}_seg.nii.gz")
        nib.save(result, str(out))
        return sitk.ReadImage(str(out))

    def predict(self, image: sitk.Image, row: PatientRow) -> RawSegmentation:
        """Run the liver and lesion tasks on one image; masks on the image's grid."""
        from totalsegmentator.map_to_binary import class_map

        liver = lesions = None
        with tempfile.TemporaryDirectory(prefix="livermets-totalseg-") as tmp:
            path = Path(tmp) / "image.nii.gz"
            sitk.WriteImage(image, str(path))
            for task, fast, roi in self._tasks():
                seg = self._run(path, task, fast, roi)
                if geometry_differences(seg, image):
                    seg = resample_to(seg, image)
                else:
                    seg.CopyInformation(image)
                array = sitk.GetArrayFromImage(seg)
                names = {v: k for k, v in class_map[task].items()}
                if task == self.liver_task:
                    liver = array == names["liver"]
                else:
                    lesions = (array == names[LESION_TASKS[task]]).astype(np.uint8)
        return RawSegmentation(liver, lesions, ["lesion"])


@BACKENDS.register("totalsegmentator", options=TotalSegmentatorOptions)
def totalsegmentator_backend(
    model: str | Path | None, options: TotalSegmentatorOptions
) -> TotalSegmentatorBackend:
    """TotalSegmentator's liver and liver-lesion tasks (its own weights, no model folder)."""
    if model is not None:
        raise ConfigError(
            f"the totalsegmentator backend takes no model (got {model}); it uses "
            "TotalSegmentator's own weights (see weights_dir / --weights-dir)."
        )
    return TotalSegmentatorBackend(**options.model_dump())
