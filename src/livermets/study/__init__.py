"""Study runner: one YAML (validated config) -> features, validated models, metrics.

``analyse_study`` runs the analysis; ``livermets.pipeline.run_study`` (``livermets.run_study``,
``livermets study run``) adds the report and tracking.
"""

from livermets.study.config import StudyConfig, config_from_dict, load_config
from livermets.study.load import load_study
from livermets.study.predict import predict
from livermets.study.runner import StudyResult, analyse_study

__all__ = ["StudyConfig", "StudyResult", "analyse_study", "config_from_dict", "load_config",
           "load_study", "predict"]
