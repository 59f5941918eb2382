"""Locating DVC outs in a dvc.lock and reading .dir listings from a local cache (no git needed)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from strata.errors import RevisionError
from strata.review import revisions as rv

WORKSPACE = rv.Rev(rv.WORKSPACE, None, "now")
LOCK = """
schema: '2.0'
stages:
  validate:
    cmd: strata validate
    outs:
    - path: data/clean
      hash: md5
      md5: {dir_md5}
  train:
    cmd: strata train
    outs:
    - path: models/model.skops
      hash: md5
      md5: 0123456789abcdef0123456789abcdef
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    listing = [
        {"md5": hashlib.md5(b"one").hexdigest(), "relpath": "acme/1.parquet"},
        {"md5": hashlib.md5(b"{}").hexdigest(), "relpath": "manifest.json"},
    ]
    blob = json.dumps(listing).encode()
    dir_md5 = hashlib.md5(blob).hexdigest() + ".dir"
    cache = tmp_path / ".dvc/cache/files/md5"
    for md5, data in ((dir_md5, blob), (listing[0]["md5"], b"one")):
        (cache / md5[:2]).mkdir(parents=True, exist_ok=True)
        (cache / md5[:2] / md5[2:]).write_bytes(data)
    (tmp_path / "dvc.lock").write_text(LOCK.format(dir_md5=dir_md5))
    rv.cache_dir.cache_clear()
    return tmp_path


def test_locate_file_dir_and_inside_dir(project: Path) -> None:
    model = rv.locate(project, WORKSPACE, "models/model.skops")
    assert (model.stage, model.inner, model.is_dir) == ("train", "", False)
    inner = rv.locate(project, WORKSPACE, "./data/clean/acme/1.parquet")
    assert (inner.out, inner.stage, inner.inner, inner.is_dir) == (
        "data/clean",
        "validate",
        "acme/1.parquet",
        True,
    )


def test_locate_untracked_names_path_and_rev(project: Path) -> None:
    with pytest.raises(RevisionError, match="^'data/cleaner' is not tracked by DVC at workspace$"):
        rv.locate(project, WORKSPACE, "data/cleaner")


def test_listing_filters_by_inner_path(project: Path) -> None:
    tracked = rv.locate(project, WORKSPACE, "data/clean/acme")
    assert rv.listing(project, WORKSPACE, tracked) == {
        "data/clean/acme/1.parquet": hashlib.md5(b"one").hexdigest()
    }
    whole = rv.locate(project, WORKSPACE, "data/clean")
    assert sorted(rv.listing(project, WORKSPACE, whole)) == [
        "data/clean/acme/1.parquet",
        "data/clean/manifest.json",
    ]


def test_cache_miss_without_a_revision_is_a_one_line_error(project: Path) -> None:
    with pytest.raises(RevisionError, match="^'models/model.skops' at workspace: object 0123456789abcdef"):
        rv.cached_object(project, WORKSPACE, "models/model.skops", "0123456789abcdef0123456789abcdef")


def test_lock_outs_maps_paths_to_stages() -> None:
    lock = {"stages": {"a": {"outs": [{"path": "x", "md5": "1"}]}, "b": {"cmd": "c"}}}
    assert rv.lock_outs(lock) == {"x": ("a", {"path": "x", "md5": "1"})}


def test_resolve_unknown_revision(tmp_path: Path) -> None:
    with pytest.raises(RevisionError, match="^unknown revision 'nope'$"):
        rv.resolve(tmp_path, "nope")
    assert rv.resolve(tmp_path, "workspace") == WORKSPACE
