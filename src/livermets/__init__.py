"""livermets: liver-lesion and liver-metastasis diagnosis studies."""

__version__ = "0.1.0"
