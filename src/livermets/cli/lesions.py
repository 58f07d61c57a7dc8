"""``livermets lesions``: the lesions table (and patients table) of a cohort."""

from __future__ import annotations

from pathlib import Path

import typer

from livermets._atomic import write_table
from livermets._outputs import check_output_file
from livermets.cli._common import console, print_json
from livermets.cli._progress import patient_progress
from livermets.cohort import load_manifest
from livermets.errors import ConfigError
from livermets.lesions import LesionSettings, build_lesion_tables
from livermets.lesions.export import InstanceWriter, check_instance_output, lesion_algorithm
from livermets.lesions.measure import SIZE_EDGES_OPTION


def lesions(
    manifest: Path = typer.Argument(..., help="Cohort manifest CSV."),
    out: Path = typer.Option(
        ..., "--out", help="Lesions table: .parquet (a .csv copy is written beside it) or .csv."
    ),
    connectivity: int = typer.Option(26, help="Voxel connectivity of a lesion: 6, 18 or 26."),
    min_diameter: float = typer.Option(
        5.0, "--min-diameter", help="Drop lesions whose longest axial diameter is below (mm)."
    ),
    size_edges: str = typer.Option(
        SIZE_EDGES_OPTION, "--size-edges", help="Diameter edges (mm) of the size groups."
    ),
    resample_masks: bool = typer.Option(
        False, "--resample-masks", help="Resample masks off the image grid (nearest neighbour)."
    ),
    instance_maps: bool = typer.Option(
        True,
        "--instance-maps/--no-instance-maps",
        help="Write <out stem>_instances/<patient>.nii.gz: voxel = lesion_id, 0 = background.",
    ),
    dicom_seg: bool = typer.Option(
        False,
        "--dicom-seg",
        help="Also write <out stem>_instances/<patient>_seg.dcm, a DICOM-SEG with one segment "
        "per lesion ('lesion <lesion_id>'); every image must be DICOM.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Split lesion masks into instances and measure them (volume, diameters, HU, size group);
    write each patient's lesion instance map (and, for DICOM images, a DICOM-SEG)."""
    check_output_file(out)
    try:
        edges = tuple(float(v) for v in size_edges.split(","))
    except ValueError as exc:
        raise ConfigError(f"--size-edges '{size_edges}' must be numbers such as 10,30.") from exc
    settings = LesionSettings(connectivity, min_diameter, edges, resample_masks)
    cohort = load_manifest(manifest)
    folder = out.with_name(f"{out.stem}_instances")
    writer = None
    if instance_maps or dicom_seg:
        check_instance_output(folder, cohort.rows(), dicom_seg)
        writer = InstanceWriter(
            folder, instance_maps=instance_maps, dicom_seg=dicom_seg,
            algorithm=lesion_algorithm(cohort),
        )  # fmt: skip
    try:
        with patient_progress(len(cohort.table), "measuring lesions") as advance:
            table, patients = build_lesion_tables(
                cohort, settings, progress=advance, on_patient=writer
            )
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    # everything is computed before anything is written: bad input leaves no output (instance
    # files wait in a staging folder until every patient succeeded)
    if writer is not None:
        for column, wanted in (("instance_map", instance_maps), ("dicom_seg", dicom_seg)):
            if wanted:
                patients[column] = [
                    writer.relative_path(str(pid), column, out.parent)
                    for pid in patients["patient_id"]
                ]
        writer.commit()
    write_table(table, out)
    patients_out = out.with_name(f"{out.stem}_patients{out.suffix}")
    write_table(patients, patients_out)
    if out.suffix == ".parquet":
        write_table(table, out.with_suffix(".csv"))
        write_table(patients, patients_out.with_suffix(".csv"))
    summary = {
        "n_patients": len(patients),
        "n_lesions": len(table),
        "n_excluded_small": int(patients["n_excluded_small"].sum()),
        "size_groups": table["size_group"].value_counts().to_dict(),
        "lesions": str(out),
        "patients": str(patients_out),
        "instances": str(folder) if writer is not None else None,
        "dicom_seg": int((patients["dicom_seg"] != "").sum()) if dicom_seg else 0,
    }
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"{summary['n_lesions']} lesions in {summary['n_patients']} patients "
            f"({summary['n_excluded_small']} under {min_diameter:g} mm dropped) -> {out}, "
            f"{patients_out}" + (f", {folder}" if writer is not None else "")
        )
