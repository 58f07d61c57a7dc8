"""The models' name -> factory registry: the shared plug-in idiom of ``livermets._registry``."""

from livermets._registry import Entry, Registry, Space, validate_options

__all__ = ["Entry", "Registry", "Space", "validate_options"]
