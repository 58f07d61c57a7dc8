"""Turn one patient's plan into files and table rows (CT tasks here, MRI via ``mri``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from livermets.synth.config import SynthConfig
from livermets.synth.ct import render_ct
from livermets.synth.grid import Grid
from livermets.synth.scanner import CT_PROTOCOLS
from livermets.synth.tasks import TASKS, PatientPlan
from livermets.synth.writer import write_lesion_labels, write_nifti


def ct_grid(config: SynthConfig, centre: str) -> Grid:
    """The CT grid of a task at a centre (voxel size times the run's coarsening scale)."""
    task = TASKS[config.task]
    proto = CT_PROTOCOLS[centre]
    sz = proto.staging_slice_mm if task.staging else proto.slice_mm
    sxy = proto.spacing_xy_mm
    sxy, sz = round(sxy * config.scale, 6), round(sz * config.scale, 6)
    return Grid.covering(task.fov, (sxy, sxy, sz))


def render_patient(config: SynthConfig, pid: str, centre: str, rng: np.random.Generator,
                   root: Path) -> dict[str, Any]:
    """Draw, render and write one patient; return its rows."""
    task = TASKS[config.task]
    plan = task.sample(rng, centre)
    if task.modality == "MR":
        from livermets.synth.mri import render_mr_patient

        return render_mr_patient(config, pid, centre, plan, rng, root)
    return _render_ct_patient(config, pid, centre, plan, rng, root)


def _render_ct_patient(config: SynthConfig, pid: str, centre: str, plan: PatientPlan,
                       rng: np.random.Generator, root: Path) -> dict[str, Any]:
    """CT tasks: phases, liver mask, lesion instance map, primary mask, lesion labels."""
    from livermets.lesions.measure import size_group

    grid = ct_grid(config, centre)
    protocol = CT_PROTOCOLS[centre]
    res = render_ct(grid, protocol, config.phases, plan.lesions, rng, plan.enhancement,
                    plan.liver_texture, plan.primary)
    rel = Path("patients") / pid
    folder = root / rel
    row: dict[str, Any] = {"patient_id": pid, "image": str(rel / "ct_venous.nii.gz")}
    if len(config.phases) > 1:
        for phase in config.phases:
            row[f"image_{phase}"] = str(rel / f"ct_{phase}.nii.gz")
    for phase, array in res.images.items():
        write_nifti(array, grid, folder / f"ct_{phase}.nii.gz")
    write_nifti(res.liver, grid, folder / "liver_mask.nii.gz")
    truth = []
    if res.lesions:
        write_nifti(res.instance, grid, folder / "lesion_mask.nii.gz")
        counts = np.bincount(res.instance.ravel(), minlength=len(res.lesions) + 1)
        pairs = [(i, les.label) for i, les in enumerate(res.lesions, start=1)]
        write_lesion_labels(pairs, folder / "lesion_labels.csv")
        row["lesion_mask"] = str(rel / "lesion_mask.nii.gz")
        for i, les in enumerate(res.lesions, start=1):
            t = les.truth()
            t.update({"patient_id": pid, "lesion_label": i, "center": centre,
                      "size_group": size_group(les.diameter_mm), "voxels": int(counts[i])})
            truth.append(t)
    else:
        row["lesion_mask"] = None
    row["liver_mask"] = str(rel / "liver_mask.nii.gz")
    if res.primary is not None:
        write_nifti(res.primary, grid, folder / "primary_mask.nii.gz")
        row["primary_mask"] = str(rel / "primary_mask.nii.gz")
    row["lesion_labels"] = str(rel / "lesion_labels.csv") if res.lesions else None
    row.update({"label": plan.label, "center": centre, "modality": "CT"})
    row.update(plan.clinical)
    patient = {"patient_id": pid, "center": centre, "enhancement": round(plan.enhancement, 4),
               "noise_sd_hu": round(res.noise_sd, 3), "n_lesions": len(res.lesions),
               "spacing_x_mm": grid.spacing[0], "spacing_z_mm": grid.spacing[2], **plan.truth}
    return {"manifest": row, "truth": truth, "patient": patient,
            "clinical_columns": list(plan.clinical)}
