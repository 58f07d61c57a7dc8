"""Study runner: one YAML (validated config) -> features, validated models, metrics, report."""

from livermets.study.config import StudyConfig, config_from_dict, load_config
from livermets.study.predict import predict
from livermets.study.runner import StudyResult, run_study

__all__ = ["StudyConfig", "StudyResult", "config_from_dict", "load_config", "predict",
           "run_study"]
