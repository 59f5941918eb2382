"""The contract at the door: whatever is scored goes through the validate stage's own code first.

A delivered file (`strata predict`) or the events of an HTTP request (`strata serve`) become the same raw-text
record batch a partition holds (strata.sources.readers), and then meet the contract exactly as validate
applies it: column names and aliases (strata.contract.columns), malformed rows, NA markers, boolean words,
types, the source's units, ranges and allowed values (strata.contract.engine). A row validate would
quarantine is rejected here with the same reason text; the clean rows are what the model sees, typed as in
the clean files it was trained on. No rule is restated in this module.

The one difference is the target: it is what the model predicts, so an input without the target column is
checked with that column optional. An input that carries it (a delivered batch replayed) is checked exactly
as validate checks it, target included.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from strata.contract.columns import resolve_columns
from strata.contract.engine import Validated, split_malformed, validate_batch
from strata.contract.spec import MALFORMED, REASON, ROW, clean_schema, quarantine_schema

if TYPE_CHECKING:
    import pyarrow as pa

    from strata.contract.spec import Contract

Mapping = dict[str, str | None]


@dataclasses.dataclass(frozen=True)
class Checked:
    """One batch through the contract: clean rows (contract columns + lineage, ``_row`` = input row), the
    rejected rows (delivered text, ``_row``, ``reason``, in row order) and rejected rows per rule."""

    clean: pa.Table
    rejects: pa.Table
    reasons: dict[str, int]


def without_target(contract: Contract) -> Contract:
    """The contract with the target column optional: what an input without labels is checked against."""
    spec = contract.columns[contract.target]
    if not spec.required:
        return contract
    columns = {**contract.columns, contract.target: dataclasses.replace(spec, required=False)}
    return dataclasses.replace(contract, columns=columns)


def for_input(
    contract: Contract, relaxed: Contract, delivered: Sequence[str], source: str, where: str
) -> tuple[Contract, Mapping]:
    """(the contract this input is checked against, delivered column of each contract column).

    ``relaxed`` is :func:`without_target` of ``contract`` (callers keep it, it is built once per model).
    A required column missing from the input is a SchemaError naming it, as in validate.
    """
    if not delivered:  # no column at all (JSON Lines of no object): its rows can only be malformed, as in
        return relaxed, dict.fromkeys(contract.columns)  # validate, which does not check the schema then
    mapping = resolve_columns(delivered, relaxed, source, where)
    return (contract if mapping[contract.target] is not None else relaxed), mapping


def check(batch: pa.RecordBatch, contract: Contract, mapping: Mapping, source: str, where: str) -> Checked:
    """A raw-text batch (delivered columns, ``_row``, ``_malformed``) through the contract, like validate.

    A few rows already under their contract names (:func:`renamed`, a scoring request) that are all clean
    and plain are read by strata.serving.plain, which gives the engine's clean table without its per-call
    cost; any other batch, and any batch that reader declines, goes through the engine."""
    import pyarrow as pa

    from strata.serving import plain

    if batch.num_rows <= plain.ROWS and all(mapping.get(c) == c for c in contract.columns):
        clean = plain.clean_rows(batch, contract, source, where)
        if clean is not None:
            names = [n for n in batch.schema.names if n not in (ROW, MALFORMED)]
            return Checked(clean, quarantine_schema(names).empty_table(), {})
    good, malformed = split_malformed(batch)
    if good.num_rows or any(mapping.values()):
        result = validate_batch(good, contract, mapping, source, where)
    else:  # nothing but malformed rows and no column: validate skips the contract too
        names = [n for n in good.schema.names if n != ROW]
        result = Validated(clean_schema(contract).empty_table(), quarantine_schema(names).empty_table(), {})
    reasons = dict(result.reasons)
    rejects = result.quarantine
    if malformed is not None:
        reasons["malformed row"] = malformed.num_rows
        rejects = pa.concat_tables([malformed.cast(rejects.schema), rejects]).sort_by(ROW)
    return Checked(result.clean, rejects, reasons)


def renamed(batch: pa.RecordBatch, contract: Contract, mapping: Mapping) -> pa.RecordBatch:
    """The batch with every contract column under its contract name (null where not delivered), then
    ``_row`` and ``_malformed``: requests checked against one contract can then be checked as one batch
    (:func:`check` with :func:`identity`), which gives each row what checking it alone gives."""
    import pyarrow as pa

    arrays = [
        batch.column(mapping[name]) if mapping.get(name) else pa.nulls(batch.num_rows, pa.string())
        for name in contract.columns
    ]
    arrays += [batch.column(ROW), batch.column(MALFORMED)]
    return pa.RecordBatch.from_arrays(arrays, names=[*contract.columns, ROW, MALFORMED])


def identity(contract: Contract) -> Mapping:
    return {name: name for name in contract.columns}


def reject_reasons(rejects: pa.Table) -> dict[int, str]:
    """Input row -> reason text, for answering each rejected event on its own."""
    return dict(zip(rejects.column(ROW).to_pylist(), rejects.column(REASON).to_pylist(), strict=True))
