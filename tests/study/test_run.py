"""`livermets study run` on feature tables, caching, designs, and `livermets predict`."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from livermets.cli._common import new_app
from livermets.cli.study import register
from livermets.pipeline import run_study
from livermets.study.config import load_config
from tests.study.conftest import write_config, write_table


@pytest.fixture(scope="module")
def app():
    """A CLI app with the study commands registered."""
    application = new_app("test")
    register(application)
    return application


def invoke(app, *args):
    """Run the CLI in-process; (exit code, output)."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def finished(tmp_path_factory, app):
    """One study (two radiomics models + clinical + combined) run through the CLI."""
    folder = tmp_path_factory.mktemp("study")
    write_table(folder / "features.csv.gz")
    config = write_config(folder, data={"features": "features.csv.gz", "positive": "metastasis",
                                        "clinical": ["cea", "sex"]},
                          clinical={"variables": ["cea", "sex"]})
    result = CliRunner().invoke(app, ["study", "run", str(config), "--out",
                                      str(folder / "out"), "--json"])
    assert result.exit_code == 0, result.output
    return folder, json.loads(result.stdout)  # warnings go to stderr, the JSON to stdout


def test_run_writes_predictions_metrics_models_and_report(finished):
    folder, summary = finished
    out = folder / "out"
    youden = json.loads((out / "metrics.json").read_text())["models"]["lasso_lr"]["splits"][
        "cv"]["youden"]
    c = youden["confusion"]
    assert c["tp"] + c["fn"] + c["fp"] + c["tn"] == 45  # 30 patients, 45 lesions, per repeat
    assert c["tp"] / (c["tp"] + c["fn"]) == pytest.approx(youden["sensitivity"]["value"])
    assert c["tn"] / (c["tn"] + c["fp"]) == pytest.approx(youden["specificity"]["value"])
    assert (out / "tables" / "confusion.csv").is_file()
    cache_bytes = sum(p.stat().st_size for p in (out / "cache").rglob("*") if p.is_file())
    assert summary["cache"] == str(out / "cache") and cache_bytes > 0
    assert summary["cache_mb"] == round(cache_bytes / 1e6, 1)
    predictions = pd.read_parquet(out / "predictions.parquet")
    assert list(predictions.columns) == ["patient_id", "lesion_id", "model", "repeat", "fold",
                                         "split", "y_true", "y_prob"]
    n_cases = 45  # 30 patients, every second one with 2 lesions
    assert predictions.groupby(["model", "repeat"]).size().tolist() == [n_cases] * 8
    assert sorted(predictions["model"].unique()) == ["clinical", "combined", "lasso_lr", "tree"]
    metrics = json.loads((out / "metrics.json").read_text())
    cv = metrics["models"]["lasso_lr"]["splits"]["cv"]
    assert cv["n_cases"] == n_cases and cv["n_repeats"] == 2
    lo, hi = cv["auc"]["ci"]
    assert lo < cv["auc"]["auc"] < hi and cv["auc"]["ci_method"] == "delong"
    assert cv["auc_bootstrap"]["ci_method"] == "bootstrap-percentile"
    assert cv["auc"]["auc"] > 0.8  # F0 carries a 2-SD planted signal
    for name in ("sensitivity", "specificity", "accuracy"):
        assert 0 <= cv["youden"][name]["value"] <= 1
    groups = metrics["models"]["lasso_lr"]["subgroups"]["size_group"]
    assert set(groups) <= {"<=10 mm", "10-30 mm", ">30 mm"} and len(groups) >= 2
    assert sum(g["cv"]["n_cases"] for g in groups.values()) == n_cases
    assert metrics["models"]["lasso_lr"]["patient_level"]["cv"]["n_cases"] == 30
    assert len(metrics["comparisons"]) == 6
    card = json.loads((out / "models" / "lasso_lr" / "card.json").read_text())
    assert card["selected_features"] and card["threshold"] is not None
    assert card["versions"]["scikit-learn"] and len(card["model_sha256"]) == 64
    assert "original_firstorder_F0" in card["radiomics_features"]
    html = (out / "report.html").read_text()
    for title in ("Models", "ROC curves", "Calibration", "Decision curves", "Selected features",
                  "Explanations", "Subgroups", "Clinical and combined models"):
        assert f">{title}<" in html
    assert "synthetic data" in html
    assert summary["auc"]["lasso_lr"] == pytest.approx(cv["auc"]["auc"])


def test_report_tables_are_csv_files_and_in_metrics(finished):
    """ORs, calibration and net benefit: numbers in tables/*.csv and metrics.json, not only
    in the HTML."""
    from livermets.models.clinical import clinical_logit_of
    from livermets.models.frozen import load_model

    folder, _ = finished
    out = folder / "out"
    metrics = json.loads((out / "metrics.json").read_text())
    for name in ("odds_ratios_univariable", "odds_ratios_clinical", "odds_ratios_combined",
                 "calibration_cv", "decision_curve_cv", "permutation_importance_tree"):
        csv = pd.read_csv(out / "tables" / f"{name}.csv")
        assert len(csv) == len(metrics["tables"][name]) > 0, name
    # the rounded summary: the report's model table, in tables/models.csv and metrics.json
    summary = pd.read_csv(out / "tables" / "models.csv", dtype={"cases": int},
                          keep_default_na=False)
    assert summary.astype(object).to_dict(orient="records") == metrics["tables"]["models"]
    assert all(re.fullmatch(r"0\.\d{3} \(0\.\d{3}-[01]\.\d{3}\)", v)
               for v in summary["AUC (DeLong 95% CI)"])
    counts = metrics["tables"]["feature_counts"]
    assert all(isinstance(r["input features"], int) for r in counts)
    assert "." not in (out / "tables" / "feature_counts.csv").read_text().split("\n", 2)[1]
    logit = clinical_logit_of(load_model(out / "models" / "clinical").pipeline)
    ors = pd.read_csv(out / "tables" / "odds_ratios_clinical.csv")
    assert ors["variable"].tolist() == logit.table_["variable"].tolist()
    np.testing.assert_allclose(ors["odds_ratio"], logit.table_["odds_ratio"], rtol=1e-12)
    assert [r["odds_ratio"] for r in metrics["tables"]["odds_ratios_clinical"]] == \
        pytest.approx(logit.table_["odds_ratio"].tolist(), rel=1e-12)
    # Table 1 of the study's patients, by class (a patient whose lesions differ is 'mixed')
    table1 = pd.read_csv(out / "tables" / "table1_by_class.csv")
    features = pd.read_csv(folder / "features.csv.gz")
    per_patient = features.groupby("patient_id")["label"].agg(
        lambda v: v.iloc[0] if v.nunique() == 1 else "mixed").value_counts()
    assert list(table1.columns[1:-2]) == ["Overall (n=30)"] + [
        f"{c} (n={per_patient[c]})" for c in sorted(per_patient.index)]
    assert table1["Characteristic"].iloc[0] == "CEA, median [IQR]"
    # features through each final pipeline: in, redundancy filter, selection, classifier
    from livermets.models.pipeline import selected_features

    flow = pd.read_csv(out / "tables" / "feature_counts.csv").set_index("model")
    lasso = load_model(out / "models" / "lasso_lr").pipeline
    kept = lasso.named_steps["redundancy"].get_support().sum()
    assert flow.loc["lasso_lr", "after the redundancy filter (|r| > 0.6 removed)"] == kept
    n_in = flow.loc["lasso_lr", "input features"]
    assert n_in == lasso.named_steps["redundancy"].n_features_in_ > kept
    assert flow.loc["lasso_lr", "used by the classifier"] == len(
        selected_features(lasso, [f"f{i}" for i in range(n_in)]))
    html = (out / "report.html").read_text()
    assert "Forest plot of the clinical model&#x27;s odds ratios" in html
    assert "Net benefit at chosen thresholds (cv)" in html
    net = pd.read_csv(out / "tables" / "decision_curve_cv.csv")
    assert net["threshold"].iloc[0] == 0.05 and net["threshold"].iloc[-1] == 0.95
    prevalence = metrics["tables"]["decision_curve_cv"][0]["treat all"]
    assert {"lasso_lr", "tree", "treat all", "treat none"} <= set(net.columns)
    assert (net["treat none"] == 0).all() and net["treat all"].iloc[0] == pytest.approx(prevalence)


def test_rerun_reuses_every_cached_stage_and_gives_the_same_numbers(finished):
    folder, _ = finished
    before = (folder / "out" / "metrics.json").read_text()
    result = run_study(folder / "study.yaml", folder / "out")
    assert sorted(result.cache_hits) == sorted(
        [f"{stage}:{m}" for stage in ("cv", "final") for m in
         ("lasso_lr", "tree", "clinical", "combined")])
    assert (folder / "out" / "metrics.json").read_text() == before


def test_predict_applies_the_frozen_model_and_refuses_other_features(finished, app, tmp_path):
    folder, _ = finished
    model = folder / "out" / "models" / "combined"
    new = write_table(tmp_path / "new.parquet", n_patients=6, seed=9)
    code, output = invoke(app, "predict", model, new, "--out", tmp_path / "p.csv", "--json")
    assert code == 0, output
    table = pd.read_csv(tmp_path / "p.csv")
    assert len(table) == 9 and table["y_prob"].between(0, 1).all()
    card = json.loads((model / "card.json").read_text())
    expected = np.where(table["y_prob"] >= card["threshold"], "metastasis", "hemangioma")
    assert table["y_pred"].tolist() == expected.tolist()
    patients = pd.read_csv(tmp_path / "p_patients.csv")
    assert len(patients) == 6
    assert patients["y_prob"].tolist() == pytest.approx(
        table.groupby("patient_id")["y_prob"].max().tolist())

    frame = pd.read_parquet(new).drop(columns=["original_firstorder_F3", "cea"])
    frame.to_parquet(tmp_path / "missing.parquet")
    code, output = invoke(app, "predict", model, tmp_path / "missing.parquet", "--out",
                          tmp_path / "q.csv")
    assert code == 2
    assert "original_firstorder_F3" in output and "'cea'" in output

    folders = invoke(app, "predict", folder / "out" / "models", new, "--out", tmp_path / "r.csv")
    assert folders[0] == 2 and "clinical" in folders[1] and "lasso_lr" in folders[1]


def test_predict_refuses_features_extracted_with_other_params(finished, app, tmp_path):
    folder, _ = finished
    model = folder / "out" / "models" / "lasso_lr"
    card_path = model / "card.json"
    card = json.loads(card_path.read_text())
    card["radiomics"] = {"params_hash": "abc123", "engine_version": "pyradiomics 3.0.1"}
    tampered = tmp_path / "model"
    tampered.mkdir()
    (tampered / "model.skops").write_bytes((model / "model.skops").read_bytes())
    (tampered / "card.json").write_text(json.dumps(card))
    frame = pd.read_parquet(write_table(tmp_path / "new.parquet", n_patients=4, seed=2))
    frame["params_hash"] = "ffff0000"
    frame.to_parquet(tmp_path / "other.parquet")
    code, output = invoke(app, "predict", tampered, tmp_path / "other.parquet", "--out",
                          tmp_path / "p.csv")
    assert code == 2
    assert "params_hash ['ffff0000']" in output and "abc123" in output
    (tampered / "model.skops").write_bytes(b"not a model")
    code, output = invoke(app, "predict", tampered, tmp_path / "new.parquet", "--out",
                          tmp_path / "p.csv")
    assert code == 2 and "does not match the hash in its card" in output


@pytest.mark.parametrize(("validation", "splits"), [
    ({"design": "fixed_split", "folds": 2}, {"cv", "test"}),
    ({"design": "external", "test_centres": ["B"], "folds": 2}, {"cv", "external"}),
])
def test_held_out_designs(study_dir, validation, splits):
    config = write_config(study_dir, validation={**validation, "bootstrap": 100},
                          models=[{"name": "lr", "select": "anova",
                                   "select_params": {"k": 3}}],
                          explain={"shap": False, "permutation": False})
    result = run_study(config, study_dir / "out")
    assert set(result.predictions["split"]) == splits
    held = result.predictions[result.predictions["split"] != "cv"]
    held_patients = set(held["patient_id"])
    dev_patients = set(result.data.patient_id[result.development])
    assert not held_patients & dev_patients
    assert set(result.metrics["models"]["lr"]["splits"]) == splits
    flow = pd.read_csv(study_dir / "out" / "tables" / "flow.csv").set_index("stage")
    analysed = flow.loc["analysed (a feature row and a label)"]
    assert (analysed["patients"], analysed["cases"]) == (30, 45)
    split_rows = flow[flow.index.str.startswith("split: ")]
    assert split_rows["patients"].sum() == 30 and split_rows["cases"].sum() == 45
    assert set(split_rows.index) == {f"split: {s}" for s in splits}
    by_split = pd.read_csv(study_dir / "out" / "tables" / "table1_by_split.csv")
    patients = result.predictions.groupby("patient_id")["split"].first().value_counts()
    assert [c for c in by_split.columns if "(n=" in c][1:] == [
        f"{s} (n={patients[s]})" for s in sorted(patients.index)]


def test_multiclass_study(study_dir):
    table = pd.read_csv(study_dir / "features.csv.gz")
    table["label"] = np.where(table["original_firstorder_F1"] > 0.6, "cyst", table["label"])
    table.to_csv(study_dir / "features.csv.gz", index=False)
    config = write_config(study_dir, task="multiclass",
                          data={"features": "features.csv.gz"},
                          models=[{"name": "rf", "select": "none", "classifier": "random_forest",
                                   "classifier_params": {"n_estimators": 20}}],
                          explain={"shap": False, "permutation": False})
    result = run_study(config, study_dir / "out")
    assert [c for c in result.predictions if c.startswith("p_")] == [
        "p_cyst", "p_hemangioma", "p_metastasis"]
    cv = result.metrics["models"]["rf"]["splits"]["cv"]
    assert 0.5 < cv["macro_auc"] <= 1 and set(cv["per_class"]) == {"cyst", "hemangioma",
                                                                    "metastasis"}
    # the macro AUC says how many classes it averaged; the confusion matrix agrees with accuracy
    counts = np.array(cv["confusion"]["counts"])
    assert cv["n_classes"] == 3 and cv["confusion"]["classes"] == ["cyst", "hemangioma",
                                                                   "metastasis"]
    assert counts.sum() == cv["n_cases"]
    assert np.trace(counts) / counts.sum() == pytest.approx(cv["accuracy"]["value"])
    assert counts.sum(axis=1)[0] == table["label"].eq("cyst").sum()  # row sums: true classes
    assert "Confusion matrix of rf (cv)" in (study_dir / "out" / "report.html").read_text()
    # patient level: per-class probabilities aggregated (max, renormalised); patients whose
    # lesions have different classes have no single true class and are left out of the metrics
    patients = pd.read_parquet(study_dir / "out" / "predictions_patients.parquet")
    probs = ["p_cyst", "p_hemangioma", "p_metastasis"]
    assert list(patients.columns) == ["model", "repeat", "fold", "split", "patient_id",
                                      "y_true", *probs]
    np.testing.assert_allclose(patients[probs].sum(axis=1), 1.0)
    lesions = result.predictions.query("repeat == 0")
    first = lesions[lesions["patient_id"] == "P001"][probs].max()
    assert patients.query("repeat == 0 and patient_id == 'P001'")[probs].to_numpy()[0] == \
        pytest.approx((first / first.sum()).to_numpy())
    n_classes = table.groupby("patient_id")["label"].nunique()
    assert set(patients.loc[patients["y_true"].isna(), "patient_id"]) == set(
        n_classes.index[n_classes > 1])
    level = result.metrics["models"]["rf"]["patient_level"]["cv"]
    assert level["n_mixed_excluded"] == int((n_classes > 1).sum())
    assert level["n_cases"] == 30 - level["n_mixed_excluded"] and 0.5 < level["macro_auc"] <= 1
    # the frozen model: per-lesion and mean-aggregated per-patient class probabilities
    from livermets.study.predict import predict

    new = write_table(study_dir / "new.parquet", n_patients=4, seed=5)
    summary = predict(study_dir / "out" / "models" / "rf", new, study_dir / "p.csv", "mean")
    cases, per_patient = pd.read_csv(study_dir / "p.csv"), pd.read_csv(summary["patients_out"])
    assert per_patient["patient_id"].tolist() == ["P000", "P001", "P002", "P003"]
    np.testing.assert_allclose(per_patient[probs].to_numpy(),
                               cases.groupby("patient_id")[probs].mean().to_numpy())
    assert per_patient["y_pred"].tolist() == [
        p.removeprefix("p_") for p in per_patient[probs].idxmax(axis=1)]


def test_data_errors_name_the_column(study_dir):
    from livermets.errors import DataError
    from livermets.study.data import build_feature_data, read_table

    config = load_config(write_config(study_dir, data={"features": "features.csv.gz",
                                                        "label_column": "outcome"}))
    with pytest.raises(DataError, match=r"column 'outcome' \(data.label_column\) is not in"):
        build_feature_data(read_table(config.data.features), config)
    config = load_config(write_config(study_dir, data={"features": "features.csv.gz",
                                                        "positive": "cyst"}))
    with pytest.raises(DataError, match=r"data\.positive 'cyst' is not a class"):
        build_feature_data(read_table(config.data.features), config)


@pytest.mark.parametrize(("metastases", "message"), [
    (1, r"cross-validation: repeat 0 fold \d trains on 3 patient\(s\) with no case of class "
        r"metastasis, .*Lower validation\.folds \(now 2\)"),
    (2, r"model 'lasso_lr', outer repeat 0 fold \d \(cv\): inner cross-validation: .*no case of "
        r"class metastasis.*Lower validation\.tuning\.inner_folds \(now 3\)"),
])
def test_a_fold_holding_one_class_is_refused_before_fitting(tmp_path, app, metastases, message):
    """6 patients, 2 folds: an outer (or inner) training set without a class is a clear exit 2."""
    table = pd.read_csv(write_table(tmp_path / "features.csv", n_patients=6))
    table["label"] = np.where(table["patient_id"].isin([f"P{i:03d}" for i in range(metastases)]),
                              "metastasis", "hemangioma")
    table.to_csv(tmp_path / "features.csv", index=False)
    config = write_config(tmp_path, data={"features": "features.csv", "positive": "metastasis"},
                          validation={"design": "cv", "folds": 2, "repeats": 1})
    code, output = invoke(app, "study", "run", config, "--out", tmp_path / "out")
    assert code == 2, output
    assert "Traceback" not in output
    assert re.search(message, " ".join(output.split())), output
    assert not (tmp_path / "out" / "predictions.parquet").exists()


def _sections(html: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)">', html)


def _text(html: str) -> str:
    """The report without its embedded images and creation time."""
    html = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "", html)


def test_report_is_drawn_again_from_the_saved_folder_with_the_same_numbers(finished, tmp_path):
    """`livermets report study DIR` rebuilds the report from the folder alone (no refitting):
    same sections in the same order, every table CSV identical."""
    import shutil

    from livermets.cli.main import app as main_app

    folder, _ = finished
    out = folder / "out"
    copy = tmp_path / "study"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("cache"))  # no fit caches at all
    result = CliRunner().invoke(main_app, ["report", "study", str(copy), "--out",
                                           str(tmp_path / "again"), "--json"])
    assert result.exit_code == 0, result.output
    again = tmp_path / "again"
    first = _sections((out / "report.html").read_text())
    assert _sections((again / "report.html").read_text()) == first
    # every number and word of the HTML is the same (figures are images; the time differs)
    assert _text((again / "report.html").read_text()) == _text((out / "report.html").read_text())
    assert {"models", "models-roc", "models-calibration", "models-dca", "models-features",
            "models-clinical", "study-patients", "study-flow"} <= set(first)
    names = sorted(p.name for p in (out / "tables").glob("*.csv"))
    assert names == sorted(p.name for p in (again / "tables").glob("*.csv"))
    assert {"models.csv", "odds_ratios_clinical.csv", "calibration_cv.csv"} <= set(names)
    for name in names:
        assert (out / "tables" / name).read_text() == (again / "tables" / name).read_text(), name
    # in place (no --out): the folder's own report is rewritten
    (copy / "report.html").unlink()
    assert CliRunner().invoke(main_app, ["report", "study", str(copy)]).exit_code == 0
    assert _sections((copy / "report.html").read_text()) == first


def test_report_study_refuses_a_folder_that_is_not_a_finished_study(finished, tmp_path):
    from livermets.cli.main import app as main_app

    result = CliRunner().invoke(main_app, ["report", "study", str(tmp_path)])
    assert result.exit_code == 2 and "has no study.json" in result.output
    folder, _ = finished
    changed = tmp_path / "changed"
    changed.mkdir()
    import shutil

    for name in ("study.json", "metrics.json", "predictions.parquet", "thresholds.parquet",
                 "fold_features.parquet"):
        shutil.copy(folder / "out" / name, changed / name)
    record = json.loads((changed / "study.json").read_text())
    table = pd.read_csv(record["config"]["data"]["features"])
    table.loc[0, "cea"] += 1.0  # the feature table is no longer the one the models saw
    table.to_csv(changed / "features.csv.gz", index=False)
    record["config"]["data"]["features"] = str(changed / "features.csv.gz")
    (changed / "study.json").write_text(json.dumps(record))
    result = CliRunner().invoke(main_app, ["report", "study", str(changed)])
    assert result.exit_code == 2 and "has changed since the study was run" in result.output


def test_report_sections_come_from_one_registry_in_order(finished, tmp_path, monkeypatch):
    """Sections are registered once (name, title, order); a new one is drawn in its place."""
    from livermets.report.sections import STUDY_SECTIONS, register_study_section, study_sections
    from livermets.report.study import write_study_report
    from livermets.study.load import load_study

    keys = [s.key for s in study_sections()]
    assert keys[:4] == ["study-flow", "study-patients", "models", "models-deep"]
    assert keys[-2:] == ["multiphase-design", "multiphase"] and len(set(keys)) == len(keys)
    with pytest.raises(ValueError, match="registered twice"):
        register_study_section("models", "again", 1, lambda s, r: None, lambda r: True)
    monkeypatch.delitem(STUDY_SECTIONS.entries, "toy-extra", raising=False)
    register_study_section("toy-extra", "Extra", 395,
                           lambda section, r: section.text(f"{len(r.data.y)} cases"),
                           lambda r: True)
    try:
        folder, _ = finished
        html = write_study_report(load_study(folder / "out"),
                                  tmp_path / "report.html").read_text()
    finally:
        del STUDY_SECTIONS.entries["toy-extra"]
    order = _sections(html)
    assert order.index("toy-extra") == order.index("study-patients") + 1
    assert order.index("toy-extra") + 1 == order.index("models")
    assert "<p>45 cases</p>" in html


def test_results_are_frozen(finished):
    """What a study produced is not changed behind the report's back."""
    import dataclasses

    from livermets.study.load import load_study

    folder, _ = finished
    result = load_study(folder / "out")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.predictions = result.predictions.head(1)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        next(iter(result.finals.values())).card = {}  # type: ignore[misc]
