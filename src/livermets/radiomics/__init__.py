"""Radiomics per region (lesion, peritumoral ring, liver, primary tumour), cached and parallel."""

from livermets.radiomics.engines import available_engines, get_engine, register_engine
from livermets.radiomics.params import (
    RadiomicsParams,
    load_params,
    params_from_dict,
    preset_names,
    preset_params,
    resolve_params,
)

__all__ = [
    "RadiomicsParams",
    "available_engines",
    "get_engine",
    "load_params",
    "params_from_dict",
    "preset_names",
    "preset_params",
    "register_engine",
    "resolve_params",
]
