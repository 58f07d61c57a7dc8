"""Table 1 of a study's patients: class and clinical variables, overall, by class and by split."""

from __future__ import annotations

import pandas as pd

from livermets.report.document import Section
from livermets.report.table_one import Variable, table_one
from livermets.study.runner import StudyResult

NAMES = {"cea": "CEA", "ca19_9": "CA19-9", "age": "Age", "sex": "Sex", "t_stage": "T stage",
         "n_stage": "N stage", "bmi": "BMI"}


def patient_frame(result: StudyResult) -> pd.DataFrame:
    """One row per patient: class (``mixed`` when the lesions differ), split, clinical values."""
    data = result.data
    classes = [str(c) for c in data.classes]
    rows = pd.DataFrame({"patient_id": data.patient_id,
                         "class": [classes[k] for k in data.y]})
    table = result.table.reset_index(drop=True)
    clinical = [c for c in result.config.data.clinical if c in table.columns]
    if len(table) == len(rows):
        rows = pd.concat([rows, table[clinical].reset_index(drop=True)], axis=1)
    per_patient = rows.groupby("patient_id", sort=False).agg(
        {"class": lambda v: v.iloc[0] if v.nunique() == 1 else "mixed",
         **{c: "first" for c in clinical if c in rows}})
    splits = result.predictions.groupby("patient_id")["split"].first()
    per_patient["split"] = splits.reindex(per_patient.index).fillna("not tested")
    return per_patient.reset_index()


def clinical_variables(frame: pd.DataFrame, columns: list[str]) -> list[Variable]:
    """Continuous for numbers with more than 5 values, else categorical."""
    out = []
    for column in columns:
        values = frame[column].dropna()
        numeric = pd.api.types.is_numeric_dtype(values) and values.nunique() > 5
        name = NAMES.get(column.lower(), column)
        out.append(Variable(column, name, "continuous" if numeric else "categorical",
                            digits=1 if numeric else 0))
    return out


def draw_patient_table(section: Section, result: StudyResult) -> None:
    """The study's Table 1: by class, and by split when there are several splits."""
    frame = patient_frame(result)
    clinical = [c for c in frame.columns if c not in ("patient_id", "class", "split")]
    variables = [Variable("class", "Class", "categorical"), *clinical_variables(frame, clinical)]
    mixed = int((frame["class"] == "mixed").sum())
    section.text(f"{len(frame)} patients; classes {', '.join(map(str, result.data.classes))}"
                 + (f" ({mixed} with lesions of different classes: 'mixed')" if mixed else "")
                 + ". Continuous variables as median [IQR], categorical as n (%).")
    by_class = table_one(frame, "class", variables[1:]) if variables[1:] else None
    if by_class is not None and not by_class.empty:
        section.table(by_class, "Table 1 by class (development and held-out patients together; "
                      "Wilcoxon / Kruskal-Wallis and chi-square / Fisher tests).",
                      csv="table1_by_class")
    if frame["split"].nunique() > 1:
        section.table(table_one(frame, "split", variables), "Table 1 by split (the patients "
                      "each split holds; tests compare the splits).", csv="table1_by_split")
