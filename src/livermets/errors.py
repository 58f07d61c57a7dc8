"""Errors a user can cause: each says what is wrong and how to fix it."""

from __future__ import annotations


class LivermetsError(Exception):
    """Base class of every error caused by user input; the CLI prints it and exits 2."""

    exit_code = 2


class InputFileError(LivermetsError):
    """A file or folder is missing, unreadable or in an unsupported format."""


class DicomSeriesError(InputFileError):
    """A DICOM folder or zip cannot be read as exactly one image series."""


class MaskError(InputFileError):
    """A mask cannot be read or has values livermets cannot interpret."""


class GeometryMismatchError(LivermetsError):
    """A mask does not lie on its image's voxel grid."""


class ManifestError(LivermetsError):
    """A cohort manifest cannot be used (missing columns, unreadable CSV)."""


class ConfigError(LivermetsError):
    """A configuration value or command-line option is invalid."""


class DataError(LivermetsError):
    """Data are present but unusable for the requested computation."""


class NetworkError(InputFileError):
    """A user's network (TorchScript file, MONAI bundle) cannot be loaded or gives an output
    livermets cannot interpret."""
