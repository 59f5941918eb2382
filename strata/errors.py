"""Domain errors. Library code raises these; only the CLI edge turns them into one line + exit code."""

from __future__ import annotations


class StrataError(Exception):
    """Base class: the message must be one line that names the file, row or field at fault."""

    exit_code = 1


class ConfigError(StrataError):
    """params.yaml (or another config file) is missing a key, has an unknown key or a bad value."""

    exit_code = 2


class SourceError(StrataError):
    """A delivered batch cannot be listed, read or parsed as its declared format."""


class SchemaError(StrataError):
    """A structural contract violation: a required column is missing, a column has an impossible type."""


class ManifestError(StrataError):
    """A stage's own manifest (inside its output folder) cannot be read: restore or delete that output."""


class StorageError(StrataError):
    """The object store or a DVC remote failed (endpoint down, bucket missing)."""


class AccessDenied(StorageError):
    """The current identity may not read or write a storage tier."""

    exit_code = 3


class RevisionError(StrataError):
    """A git revision or a DVC-tracked path does not exist at that revision."""


class DataUnavailable(RevisionError):
    """A DVC-tracked file exists at a revision but neither the local cache nor its remote can serve it."""

    def __init__(self, path: str, rev: str, detail: str) -> None:
        super().__init__(f"'{path}' at {rev} {detail}")
        self.path, self.rev, self.detail = path, rev, detail


class GateFailed(StrataError):
    """A metric regressed past the threshold the gate allows."""

    exit_code = 4


class RegistryError(StrataError):
    """A model reference, version or stage is unknown, or a registry operation cannot be done as asked."""
