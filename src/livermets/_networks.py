"""A user's own network for inference: a TorchScript file or a MONAI bundle folder.

A bundle folder holds ``configs/metadata.json``, a config (``configs/inference.json`` or
``.yaml``) whose ``network_def`` builds the network, and ``models/model.pt`` (its state dict) or
``models/model.ts`` (TorchScript, used when there is no ``model.pt`` + ``network_def``). Parsing
a bundle config runs the Python expressions it holds (``$...``), as MONAI does: use bundles you
trust. torch and MONAI are imported inside the functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livermets.errors import NetworkError

CONFIG_NAMES = ("inference.json", "inference.yaml", "inference.yml")
TRANSFORM_NAMES = {
    "Spacing", "Orientation", "ScaleIntensityRange", "NormalizeIntensity",
}  # fmt: skip
BUNDLE_LAYOUT = (
    "a MONAI bundle folder holds configs/metadata.json, configs/inference.json (with "
    "network_def) and models/model.pt (its state dict), or models/model.ts (TorchScript)"
)


def load_torchscript(path: str | Path) -> Any:
    """A TorchScript module from a file saved with ``torch.jit.save`` (on the CPU, eval mode)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise NetworkError(
            f"TorchScript file {path} does not exist. Give a file written by "
            "torch.jit.save(torch.jit.script(net), 'net.pt') (or torch.jit.trace), or a MONAI "
            "bundle folder."
        )
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError, ValueError or zip errors
        raise NetworkError(
            f"{path} is not a TorchScript file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}). A state dict or a pickled model "
            "is not TorchScript: export it with torch.jit.script or torch.jit.trace and "
            "torch.jit.save, or give a MONAI bundle folder."
        ) from exc
    return module.eval()


@dataclass
class Bundle:
    """A MONAI bundle folder: its metadata, parsed config and weights file."""

    root: Path
    metadata: dict[str, Any]
    config_file: Path | None
    weights: Path
    parser: Any = None
    files: list[Path] = field(default_factory=list)

    @property
    def torchscript(self) -> bool:
        """Whether the weights are a TorchScript file (``models/model.ts``)."""
        return self.weights.suffix == ".ts"

    def data_format(self, key: str, name: str) -> dict[str, Any]:
        """``network_data_format[key][name]`` of the metadata (``inputs``/``image``...), or {}."""
        entry = self.metadata.get("network_data_format", {}).get(key, {})
        value = entry.get(name) or (next(iter(entry.values()), {}) if entry else {})
        return value if isinstance(value, dict) else {}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NetworkError(f"cannot read {path} as JSON ({exc}); {BUNDLE_LAYOUT}.") from exc
    if not isinstance(value, dict):
        raise NetworkError(f"{path} must hold a JSON object; {BUNDLE_LAYOUT}.")
    return value


def read_bundle(folder: str | Path) -> Bundle:
    """Check a bundle folder's files and parse its config (the network is built later)."""
    root = Path(folder)
    if not root.is_dir():
        raise NetworkError(f"MONAI bundle folder {root} does not exist; {BUNDLE_LAYOUT}.")
    meta_path = root / "configs" / "metadata.json"
    if not meta_path.is_file():
        raise NetworkError(f"{root} is not a MONAI bundle: configs/metadata.json is missing; "
                           f"{BUNDLE_LAYOUT}.")
    metadata = _read_json(meta_path)
    config_file = next((root / "configs" / n for n in CONFIG_NAMES
                        if (root / "configs" / n).is_file()), None)
    parser = None
    if config_file is not None:
        from monai.bundle import ConfigParser

        parser = ConfigParser()
        try:
            parser.read_config(str(config_file))
        except Exception as exc:  # JSON / YAML errors
            raise NetworkError(f"cannot read the bundle config {config_file} ({exc}).") from exc
    pt, ts = root / "models" / "model.pt", root / "models" / "model.ts"
    has_def = parser is not None and "network_def" in parser.config
    if pt.is_file() and has_def:
        weights = pt
    elif ts.is_file():
        weights = ts
    elif pt.is_file():
        raise NetworkError(
            f"{root}/models/model.pt is a state dict, but no configs/inference.json (or .yaml) "
            "with network_def says which network it belongs to; add the config or export "
            "models/model.ts (TorchScript)."
        )
    else:
        raise NetworkError(f"{root} holds no weights: models/model.pt or models/model.ts is "
                           f"missing; {BUNDLE_LAYOUT}.")
    files = [meta_path, *([config_file] if config_file else []), weights]
    return Bundle(root, metadata, config_file, weights, parser, files)


def bundle_network(bundle: Bundle) -> Any:
    """The bundle's network with its weights, in eval mode on the CPU."""
    import torch

    if bundle.torchscript:
        return load_torchscript(bundle.weights)
    try:
        network = bundle.parser.get_parsed_content("network_def", instantiate=True)
    except Exception as exc:
        raise NetworkError(f"network_def of {bundle.config_file} cannot be built "
                           f"({type(exc).__name__}: {exc}).") from exc
    if not isinstance(network, torch.nn.Module):
        raise NetworkError(f"network_def of {bundle.config_file} is a {type(network).__name__}, "
                           "not a torch.nn.Module.")
    try:
        state = torch.load(bundle.weights, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise NetworkError(f"cannot read {bundle.weights} as a state dict ({exc}).") from exc
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # checkpoints saved as {"model": state_dict, ...}
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise NetworkError(
            f"{bundle.weights} does not fit network_def of {bundle.config_file}: "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    return network.eval()


def _walk(value: Any, path: str, found: list[tuple[str, dict[str, Any]]]) -> None:
    if isinstance(value, dict):
        if isinstance(value.get("_target_"), str):
            found.append((path, value))
        for key, item in value.items():
            _walk(item, f"{path}#{key}" if path else str(key), found)
    elif isinstance(value, list):
        for k, item in enumerate(value):
            _walk(item, f"{path}#{k}" if path else str(k), found)


def _resolve(bundle: Bundle, ident: str, raw: Any) -> Any:
    if isinstance(raw, str) and raw[:1] in ("@", "$", "%"):
        try:
            return bundle.parser.get_parsed_content(ident)
        except Exception as exc:
            raise NetworkError(f"cannot evaluate {ident} of {bundle.config_file} ({exc}); set "
                               "this value explicitly instead.") from exc
    return raw


def bundle_preprocessing(bundle: Bundle) -> dict[str, Any]:
    """Spacing, orientation, intensity scaling and window size declared by the bundle config
    (its ``preprocessing`` transforms and ``inferer``), as livermets setting names."""
    if bundle.parser is None:
        return {}
    config = bundle.parser.config
    found: list[tuple[str, dict[str, Any]]] = []
    for key in ("preprocessing", "inferer"):
        if key in config:
            _walk(config[key], key, found)
    out: dict[str, Any] = {}
    for ident, item in found:
        name = item["_target_"].split(".")[-1]
        name = name[:-1] if name.endswith("d") and name[:-1] in TRANSFORM_NAMES else name

        def arg(key: str, default: Any = None, ident: str = ident, item: dict = item) -> Any:
            return _resolve(bundle, f"{ident}#{key}", item[key]) if key in item else default

        if name == "Spacing" and "pixdim" in item:
            out["spacing"] = tuple(float(v) for v in arg("pixdim"))
        elif name == "Orientation" and "axcodes" in item:
            out["orientation"] = str(arg("axcodes"))
        elif name == "ScaleIntensityRange":
            out["intensity_range"] = (float(arg("a_min")), float(arg("a_max")))
            out["scale_to"] = (float(arg("b_min", 0.0)), float(arg("b_max", 1.0)))
            out["clip"] = bool(arg("clip", False))
        elif name == "NormalizeIntensity":
            out["zscore"] = True
        elif name == "SlidingWindowInferer":
            if "roi_size" in item:
                out["roi"] = tuple(int(v) for v in arg("roi_size"))
            if "overlap" in item:
                out["overlap"] = float(arg("overlap"))
    shape = bundle.data_format("inputs", "image").get("spatial_shape")
    if "roi" not in out and isinstance(shape, list) and all(isinstance(v, int) for v in shape):
        out["roi"] = tuple(shape)
    return out


def bundle_channel_names(bundle: Bundle) -> dict[int, str]:
    """Output value -> name from the metadata's ``outputs.pred.channel_def`` (or {})."""
    names = bundle.data_format("outputs", "pred").get("channel_def", {})
    out: dict[int, str] = {}
    for key, name in names.items():
        try:
            out[int(key)] = str(name)
        except ValueError:
            continue
    return out
