"""Public datasets converted into validated livermets cohorts."""

from livermets.datasets.ircadb import convert_ircadb, lesion_category

__all__ = ["convert_ircadb", "lesion_category"]
