"""Multi-phase evaluation on hand-made cases: every expected number is worked out in a comment or
comes from an independent implementation (scikit-learn, statsmodels, scipy, a plain loop)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from livermets.deep.multiphase.evaluate import (
    dice_summary,
    evaluate_by_center,
    evaluate_multiphase,
    match_case,
    patient_truth,
    voxel_dice,
)
from livermets.errors import DataError


def test_patient_truth_one_row_per_patient_with_lesion_free_patients():
    lesions = pd.DataFrame({"patient_id": ["P1", "P1", "P2", "P3"],
                            "class": ["hcc", "cyst", "metastasis", "cyst"]})
    truth = patient_truth(lesions, ("hcc", "metastasis", "cyst"), ("hcc", "metastasis"),
                          patients=["P0", "P1", "P2", "P3"])
    assert truth.to_dict(orient="list") == {
        "patient_id": ["P0", "P1", "P2", "P3"],
        "hcc": [0, 1, 0, 0], "metastasis": [0, 0, 1, 0], "cyst": [0, 1, 0, 1],
        "malignant": [0, 1, 1, 0],
    }
    as_label = patient_truth(lesions.rename(columns={"class": "label"}), ("hcc", "metastasis",
                             "cyst"), ("hcc",))  # fmt: skip
    assert as_label["patient_id"].tolist() == ["P1", "P2", "P3"]
    assert as_label["malignant"].tolist() == [1, 0, 0]
    with pytest.raises(DataError, match="fnh"):
        patient_truth(lesions.assign(**{"class": "fnh"}), ("hcc", "cyst"), ("hcc",))


def _two_patients():
    """3 reference lesions, 2 detected (1 misclassified), 1 false positive."""
    r1 = np.zeros((4, 8, 8), np.uint16)
    r1[0:2, 0:2, 0:2] = 1  # hcc, predicted exactly (Dice 1) as hcc
    r1[0:2, 4:6, 4:6] = 2  # cyst, missed
    p1 = np.zeros_like(r1)
    p1[0:2, 0:2, 0:2] = 1
    p1[2:4, 6:8, 0:2] = 2  # false positive
    r2 = np.zeros((4, 8, 8), np.uint8)
    r2[0:2, 0:2, 0:2] = 1  # metastasis, 8 voxels
    p2 = np.zeros_like(r2)
    p2[0:2, 0:2, 0:1] = 5  # 4 voxels inside it: Dice 2 * 4 / (8 + 4) = 2/3; called hcc
    m1 = match_case(r1, {1: "hcc", 2: "cyst"}, p1, {1: "hcc", 2: "metastasis"},
                    patient_id="P1", spacing_zyx=(2.0, 1.0, 1.0))
    m2 = match_case(r2, {1: "metastasis"}, p2, {5: "hcc"}, patient_id="P2",
                    spacing_zyx=(2.0, 1.0, 1.0))
    return pd.concat([m1, m2], ignore_index=True)


def test_match_case_rows():
    m = _two_patients()
    assert m["outcome"].tolist() == ["TP", "FN", "FP", "TP"]
    assert m["ref_id"].tolist() == [1, 2, pd.NA, 1]
    assert m["pred_id"].tolist() == [1, pd.NA, 2, 5]
    assert m["dice"].tolist()[:2] == [1.0, 0.0] and np.isnan(m["dice"][2])
    assert m["dice"][3] == pytest.approx(2 / 3)
    assert m["correct"].tolist() == [True, pd.NA, pd.NA, False]
    assert (m["diameter_mm"][[0, 1, 3]] > 0).all() and m["diameter_mm"].isna().tolist()[2]


def test_lesion_counts_and_wilson_intervals():
    m = _two_patients()
    patients = _scores(["P1", "P2"], {"hcc": [0.9, 0.2], "metastasis": [0.1, 0.8],
                                      "cyst": [0.7, 0.1]}, [0.9, 0.8])
    truth = pd.DataFrame({"patient_id": ["P1", "P2"], "hcc": [1, 0], "metastasis": [0, 1],
                          "cyst": [1, 0], "malignant": [1, 1]})
    ev = evaluate_multiphase(patients, truth, m, pd.DataFrame({"patient_id": []}),
                             ("hcc", "metastasis", "cyst"), n_boot=0)
    row = ev.lesions.set_index("stratum").loc["All"]
    assert (row["n_reference"], row["n_detected"], row["n_predicted"]) == (3, 2, 3)
    assert (row["n_true_positive"], row["n_false_positive"], row["n_correct"]) == (2, 1, 1)
    assert row["precision"] == pytest.approx(2 / 3)
    assert row["sensitivity"] == pytest.approx(2 / 3)
    assert row["accuracy"] == pytest.approx(1 / 2)
    assert row["fp_per_patient"] == pytest.approx(1 / 2)
    wilson_23 = proportion_confint(2, 3, alpha=0.05, method="wilson")
    wilson_12 = proportion_confint(1, 2, alpha=0.05, method="wilson")
    assert (row["precision_ci_low"], row["precision_ci_high"]) == pytest.approx(wilson_23)
    assert (row["sensitivity_ci_low"], row["sensitivity_ci_high"]) == pytest.approx(wilson_23)
    assert (row["accuracy_ci_low"], row["accuracy_ci_high"]) == pytest.approx(wilson_12)
    by_class = ev.lesions[ev.lesions["by"] == "class"].set_index("stratum")
    # metastasis: 1 reference lesion, detected but called hcc; 1 predicted metastasis, the FP
    assert by_class.loc["metastasis", ["n_reference", "n_detected", "n_correct"]].tolist() == [
        1, 1, 0]
    assert by_class.loc["metastasis", ["n_predicted", "n_false_positive"]].tolist() == [1, 1]
    assert by_class.loc["hcc", ["n_predicted", "n_true_positive"]].tolist() == [2, 2]
    sizes = ev.lesions[ev.lesions["by"] == "size_group"].set_index("stratum")
    assert sizes.loc["<=10 mm", ["n_reference", "n_predicted"]].tolist() == [3, 3]
    assert sizes.loc[">30 mm", "n_reference"] == 0 and np.isnan(sizes.loc[">30 mm", "sensitivity"])
    # the lesion confusion matrix: reference class x class of the matched prediction
    confusion = ev.confusion
    assert list(confusion.columns) == ["hcc", "metastasis", "cyst", "missed"]
    assert list(confusion.index) == ["hcc", "metastasis", "cyst", "none"]
    assert confusion.loc["metastasis", "hcc"] == 1  # detected, called hcc
    assert confusion.loc["none", "metastasis"] == 1  # the false positive
    assert confusion["missed"].sum() == 1 and confusion.to_numpy().sum() == len(m)
    diagonal = sum(confusion.loc[c, c] for c in ("hcc", "metastasis", "cyst"))
    assert diagonal == row["n_correct"]
    assert "lesion_confusion" in ev.tables()


def test_matching_is_one_to_one_by_instance_id():
    ref = np.zeros((2, 6, 6), np.uint8)
    ref[:, 0:2, 0:2] = 1  # 8 voxels
    ref[:, 0:2, 3:4] = 2  # 4 voxels
    ref[0, 5, 0] = ref[1, 5, 5] = 3  # one lesion in two disconnected pieces
    pred = np.zeros_like(ref)
    pred[:, 0:2, 0:4] = 7  # covers lesions 1 and 2: Dice 16/24 with 1, 8/20 with 2
    pred[0, 5, 0] = pred[1, 5, 5] = 8  # both pieces of lesion 3: one lesion, Dice 1
    m = match_case(ref, {1: "cyst", 2: "cyst", 3: "hcc"}, pred, {7: "cyst", 8: "hcc"})
    assert m[["ref_id", "pred_id", "outcome"]].astype(str).values.tolist() == [
        ["1", "7", "TP"], ["2", "<NA>", "FN"], ["3", "8", "TP"]]
    assert m["dice"].tolist() == pytest.approx([2 / 3, 0.0, 1.0])
    # Dice 2/3 is not above a 0.7 threshold: a miss and a false positive
    strict = match_case(ref, {1: "cyst", 2: "cyst", 3: "hcc"}, pred, {7: "cyst", 8: "hcc"},
                        min_dice=0.7)
    assert strict["outcome"].tolist() == ["FN", "FN", "TP", "FP"]
    with pytest.raises(DataError, match="no class"):
        match_case(ref, {1: "cyst", 2: "cyst"}, pred, {7: "cyst", 8: "hcc"})
    with pytest.raises(DataError, match="shapes"):
        match_case(ref, {1: "cyst"}, pred[:1], {7: "cyst"})


def test_voxel_dice_on_hand_made_label_maps():
    ref = np.zeros((1, 4, 4), np.uint8)
    ref[0, :3, :3] = 1  # liver
    ref[0, 0, 0:2] = 2  # class 0 (hcc): 2 voxels
    ref[0, 2, 2] = 3  # class 1 (cyst): 1 voxel
    pred = np.zeros_like(ref)
    pred[0, :3, :4] = 1  # liver 12 voxels vs 9: overlap 9 -> liver Dice 18/21
    pred[0, 0, 0] = 2  # hcc 1 voxel inside the reference's 2 -> 2/3
    pred[0, 1, 1] = 3  # cyst 1 voxel, not the reference voxel -> 0
    # lesions any class: reference {(0,0),(0,1),(2,2)}, predicted {(0,0),(1,1)}: 2*1/5
    out = voxel_dice(ref, pred, 3, classes=("hcc", "cyst", "fnh"))
    assert out["liver_dice"] == pytest.approx(18 / 21)
    assert out["lesion_dice"] == pytest.approx(2 / 5)
    assert out["dice_hcc"] == pytest.approx(2 / 3)
    assert out["dice_cyst"] == 0.0
    assert np.isnan(out["dice_fnh"])  # absent from both
    assert np.isnan(voxel_dice(ref * 0, pred * 0, 3)["lesion_dice"])


def _scores(ids, per_class, malignant, rule="max_in_liver", center="A"):
    table = pd.DataFrame({"patient_id": ids, "center": center, "rule": rule})
    for name, values in per_class.items():
        table[f"p_{name}"] = values
    table["p_malignant"] = malignant
    return table


# 5 patients. hcc: positives 0.9, 0.4 vs negatives 0.5, 0.2, 0.1 -> 3 + 2 = 5 of 6 pairs.
# cyst: positives 0.8, 0.2, 0.6 vs negatives 0.3, 0.4 -> 2 + 0 + 2 = 4 of 6. fnh: no positive.
# malignant (= hcc): 0.8 beats all 3; 0.3 beats 0.1 and 0.2 and ties 0.3 -> 5.5 of 6.
IDS = ["a", "b", "c", "d", "e"]
TRUTH = pd.DataFrame({"patient_id": IDS, "hcc": [1, 1, 0, 0, 0], "cyst": [0, 1, 1, 0, 1],
                      "fnh": 0, "malignant": [1, 1, 0, 0, 0]})
SCORES = {"hcc": [0.9, 0.4, 0.5, 0.2, 0.1], "cyst": [0.3, 0.8, 0.2, 0.4, 0.6],
          "fnh": [0.1, 0.1, 0.2, 0.3, 0.0]}
P_MAL = [0.8, 0.3, 0.3, 0.1, 0.2]
CLASSES = ("hcc", "cyst", "fnh")


def _five(n_boot=0, seed=0):
    volume = _scores(IDS, {"hcc": [2.0, 0.0, 0.0, 0.0, 0.0], "cyst": [0.0, 1.0, 1.0, 0.0, 0.0],
                           "fnh": 0.0}, [2.0, 0.0, 0.0, 0.0, 0.0], rule="volume")
    patients = pd.concat([_scores(IDS, SCORES, P_MAL), volume], ignore_index=True)
    empty = pd.DataFrame({"patient_id": []})
    return evaluate_multiphase(patients, TRUTH, empty, empty, CLASSES, n_boot=n_boot, seed=seed)


def test_per_class_auc_by_hand_and_by_sklearn():
    ev = _five()
    auc = ev.class_auc.set_index(["rule", "class"])
    assert auc.loc[("max_in_liver", "hcc"), "auc"] == pytest.approx(5 / 6)
    assert auc.loc[("max_in_liver", "cyst"), "auc"] == pytest.approx(4 / 6)
    for name in ("hcc", "cyst"):
        assert auc.loc[("max_in_liver", name), "auc"] == pytest.approx(
            roc_auc_score(TRUTH[name], SCORES[name]))
    fnh = auc.loc[("max_in_liver", "fnh")]
    assert np.isnan(fnh["auc"]) and fnh["note"] == "no positive patients"
    assert (fnh["n_pos"], fnh["n_neg"]) == (0, 5)
    # volume rule: hcc 2 mL vs zeros: positives 2.0 (3 wins) and 0.0 (3 ties) -> 4.5 / 6
    assert auc.loc[("volume", "hcc"), "auc"] == pytest.approx(4.5 / 6)
    assert auc.loc[("volume", "hcc"), "auc"] == pytest.approx(
        roc_auc_score(TRUTH["hcc"], [2.0, 0, 0, 0, 0]))


def test_summary_auc8_mean_and_auc2():
    summary = _five().summary.set_index("rule")
    row = summary.loc["max_in_liver"]
    assert row["auc_mean"] == pytest.approx((5 / 6 + 4 / 6) / 2)  # fnh has no AUC: left out
    assert (row["n_classes_estimable"], row["n_classes"]) == (2, 3)
    assert row["auc_malignant"] == pytest.approx(5.5 / 6)
    assert row["auc_malignant"] == pytest.approx(roc_auc_score(TRUTH["malignant"], P_MAL))
    assert (row["n_malignant"], row["n_benign"]) == (2, 3)
    assert row["auc_malignant_ci_low"] < row["auc_malignant"] <= row["auc_malignant_ci_high"]
    assert np.isnan(row["auc_mean_ci_low"]) and row["n_boot_valid"] == 0  # n_boot=0: no CI


def test_mean_auc_bootstrap_equals_a_plain_resampling_loop():
    n_boot, seed = 150, 3
    ev = _five(n_boot=n_boot, seed=seed)
    # the same patient resamples, drawn as the implementation draws them (one block of <= 256)
    draws = np.random.default_rng(seed).integers(0, 5, size=(n_boot, 5))
    means = []
    for idx in draws:
        aucs = []
        for name in ("hcc", "cyst"):
            y = TRUTH[name].to_numpy()[idx]
            if y.min() == y.max():
                break
            aucs.append(roc_auc_score(y, np.asarray(SCORES[name])[idx]))
        else:
            means.append(np.mean(aucs))
    row = ev.summary.set_index("rule").loc["max_in_liver"]
    assert row["n_boot_valid"] == len(means)
    assert (row["auc_mean_ci_low"], row["auc_mean_ci_high"]) == pytest.approx(
        tuple(np.quantile(means, [0.025, 0.975])))


def test_roc_points_and_by_center():
    ev = _five()
    hcc = ev.roc[(ev.roc["rule"] == "max_in_liver") & (ev.roc["class"] == "hcc")]
    area = np.trapezoid(hcc["tpr"].to_numpy()[::-1], hcc["fpr"].to_numpy()[::-1])
    assert area == pytest.approx(5 / 6)
    both = pd.concat([_scores(IDS, SCORES, P_MAL),
                      _scores(["x", "y", "z"], {"hcc": [0.9, 0.1, 0.2], "cyst": [0.5, 0.5, 0.1],
                                                "fnh": [0.3, 0.2, 0.1]},
                              [0.9, 0.1, 0.2], center="B")])  # fmt: skip
    truth = pd.concat([TRUTH, pd.DataFrame({"patient_id": ["x", "y", "z"], "hcc": [1, 0, 0],
                                            "cyst": [0, 1, 0], "fnh": [0, 0, 1],
                                            "malignant": [1, 0, 0]})])  # fmt: skip
    empty = pd.DataFrame({"patient_id": []})
    split = evaluate_by_center(both, truth, empty, empty, CLASSES, n_boot=0)
    assert list(split) == ["A", "B"]
    assert split["A"].n_patients == 5 and split["B"].n_patients == 3
    assert split["A"].summary["auc_mean"].iloc[0] == pytest.approx(0.75)
    external = split["B"].class_auc.set_index("class")
    assert external.loc["hcc", "auc"] == 1.0  # one positive: AUC without a CI
    assert np.isnan(external.loc["hcc", "ci_low"]) and "no CI" in external.loc["hcc", "note"]


def test_dice_summary_t_interval():
    dice = pd.DataFrame({"patient_id": ["a", "b", "c", "d"], "lesion_dice": [0.8, 0.6, 0.7, np.nan],
                         "liver_dice": [0.9, 0.9, 0.9, 0.9]})
    row = dice_summary(dice, ("hcc",)).set_index("measure").loc["lesion"]
    assert row["n_patients"] == 3 and row["mean"] == pytest.approx(0.7)
    lo, hi = sps.t.interval(0.95, 2, loc=0.7, scale=0.1 / np.sqrt(3))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))


@pytest.mark.parametrize(
    "patients,truth,message",
    [
        (_scores(IDS, SCORES, P_MAL), TRUTH.iloc[:4], "no truth"),
        (pd.concat([_scores(IDS, SCORES, P_MAL), _scores(IDS[:4], {k: v[:4] for k, v in
                    SCORES.items()}, P_MAL[:4], rule="volume")]), TRUTH, "different patients"),
        (_scores(IDS, SCORES, P_MAL).drop(columns="p_cyst"), TRUTH, "p_cyst"),
        (pd.concat([_scores(IDS, SCORES, P_MAL)] * 2), TRUTH, "repeated"),
    ],
)  # fmt: skip
def test_inconsistent_tables_raise(patients, truth, message):
    empty = pd.DataFrame({"patient_id": []})
    with pytest.raises(DataError, match=message):
        evaluate_multiphase(patients, truth, empty, empty, CLASSES, n_boot=0)


def test_lesion_rows_of_other_patients_raise():
    matches = _two_patients()
    with pytest.raises(DataError, match="without patient scores"):
        evaluate_multiphase(_scores(IDS, SCORES, P_MAL), TRUTH, matches,
                            pd.DataFrame({"patient_id": []}), CLASSES, n_boot=0)
