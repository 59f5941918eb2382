"""split: a row's side depends on its key alone; the earliest delivery of a key wins."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stages import ingest, split, validate
from strata.config import IngestParams, SourceSpec, SplitParams, ValidateParams
from strata.contract.keys import identity_hashes, on_test_side
from strata.contract.spec import ColumnSpec, Contract, read_contract
from strata.errors import ConfigError, SchemaError

CONTRACT = Contract(
    target="label",
    key=("id",),
    columns={
        "id": ColumnSpec(type="string", required=True),
        "label": ColumnSpec(type="string", required=True),
    },
)
PARAMS = SplitParams(seed=7, test_fraction=0.3)


def build(tmp_path, files: dict[str, str]):
    landing = tmp_path / "landing"
    for name, text in files.items():
        (landing / "s" / name).parent.mkdir(parents=True, exist_ok=True)
        (landing / "s" / name).write_text(text)
    params = IngestParams(landing="landing", sources=(SourceSpec(name="s", kind="files", path="s"),))
    ingest.run(params, landing, tmp_path / "partitions", tmp_path / "cache.json")
    validate.run(
        ValidateParams(contract=CONTRACT), tmp_path / "partitions", tmp_path / "clean", tmp_path / "q"
    )
    counts, order = split.run(
        PARAMS, tmp_path / "clean", tmp_path / "train.parquet", tmp_path / "test.parquet"
    )
    sides = {}
    for side in ("train", "test"):
        for row in pq.read_table(tmp_path / f"{side}.parquet").to_pylist():
            sides[row["id"]] = (side, row["label"])
    return counts, order, sides


def csv(ids, label="x"):
    return "id,label\n" + "".join(f"{i},{label}\n" for i in ids)


def test_rows_never_change_side_as_data_grows(tmp_path):
    _, _, before = build(tmp_path / "a", {"d1.csv": csv(range(300))})
    _, _, after = build(tmp_path / "b", {"d1.csv": csv(range(300)), "d2.csv": csv(range(300, 900))})
    assert {k: after[k] for k in before} == before
    share = sum(side == "test" for side, _ in after.values()) / len(after)
    assert 0.25 < share < 0.35


def test_duplicate_keys_across_batches_keep_the_earliest_delivery(tmp_path):
    files = {"d2.csv": csv([1, 2], "late"), "d1.csv": csv([1], "early"), "d3.csv": csv(range(100, 120))}
    counts, order, sides = build(tmp_path, files)  # d3: rows enough for both sides
    assert counts.duplicates == 1 and counts.rows_in == 23 and counts.train + counts.test == 22
    assert sides["1"][1] == "early" and sides["2"][1] == "late"
    assert len(order) == 3


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=50, unique=True), st.integers(0, 2**31)
)
def test_side_is_a_function_of_key_and_seed(keys, seed):
    table = pa.table({"id": keys, "label": ["x"] * len(keys)})
    side = on_test_side(identity_hashes(table, CONTRACT), seed, 0.25)
    flipped = table.take(list(reversed(range(len(keys)))))
    assert list(side) == list(reversed(on_test_side(identity_hashes(flipped, CONTRACT), seed, 0.25)))


def test_clean_files_without_contract_metadata_are_refused(tmp_path):
    pq.write_table(pa.table({"id": ["a"]}), tmp_path / "x.parquet")
    with pytest.raises(SchemaError, match=r"x.parquet: not clean-format Parquet"):
        read_contract(tmp_path / "x.parquet")


def test_nothing_to_split_is_a_clear_error(tmp_path):
    (tmp_path / "clean").mkdir()
    with pytest.raises(SchemaError, match=r"no clean partitions to split"):
        split.run(PARAMS, tmp_path / "clean", tmp_path / "train.parquet", tmp_path / "test.parquet")


@pytest.mark.parametrize(
    ("fraction", "message"),
    [
        (
            0.00001,
            "split.test_fraction: 1e-05 leaves the test side empty (train 20, test 0 of 20 rows); each side "
            "needs at least one row: raise split.test_fraction or deliver more rows",
        ),
        (0.99999, "split.test_fraction: 0.99999 leaves the train side empty (train 0, test 20 of 20 rows);"),
    ],
)
def test_a_split_that_leaves_a_side_empty_is_refused_before_writing(tmp_path, fraction, message):
    build(tmp_path, {"d1.csv": csv(range(20))})
    before = {p: (tmp_path / p).read_bytes() for p in ("train.parquet", "test.parquet")}
    with pytest.raises(ConfigError) as err:
        split.run(SplitParams(seed=7, test_fraction=fraction), tmp_path / "clean", *split_outputs(tmp_path))
    assert str(err.value).startswith(message)
    assert {p: (tmp_path / p).read_bytes() for p in before} == before  # the last good split is kept


def test_no_clean_rows_at_all_is_refused(tmp_path):
    build(tmp_path, {"d1.csv": csv(range(20))})
    (tmp_path / "landing" / "s" / "d1.csv").write_text("id,label\n1,\n")  # the only row is now quarantined
    params = IngestParams(landing="landing", sources=(SourceSpec(name="s", kind="files", path="s"),))
    ingest.run(params, tmp_path / "landing", tmp_path / "partitions", tmp_path / "cache.json")
    validate.run(
        ValidateParams(contract=CONTRACT), tmp_path / "partitions", tmp_path / "clean", tmp_path / "q"
    )
    with pytest.raises(
        SchemaError, match=r"clean: no clean rows to split \(every delivered row was quarantined"
    ):
        split.run(PARAMS, tmp_path / "clean", *split_outputs(tmp_path))


def split_outputs(tmp_path):
    return tmp_path / "train.parquet", tmp_path / "test.parquet"


@pytest.mark.parametrize("cut", [0, 100])
def test_an_unreadable_clean_partition_is_one_line(tmp_path, cut):
    build(tmp_path, {"d1.csv": csv(range(20)), "d2.csv": csv(range(20, 40))})
    part = sorted((tmp_path / "clean" / "s").glob("*.parquet"))[cut // 100]
    part.write_bytes(part.read_bytes()[:cut])
    with pytest.raises(SchemaError) as err:
        split.run(PARAMS, tmp_path / "clean", *split_outputs(tmp_path))
    assert str(err.value).startswith(f"{part}: unreadable clean partition (")
    assert str(err.value).endswith(
        f"); delete it and run validate again, or `dvc checkout {tmp_path / 'clean'}`"
    )
