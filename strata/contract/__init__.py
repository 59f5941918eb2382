"""The data contract: one :class:`Contract` (spec), its parsers and units, key hashing and the validation
engine. validate applies it to partitions; predict and the server apply the same code at the door; split,
train, evaluate and the reviewer tools read the same object back from a clean file's metadata.

Importing this package is cheap (no pyarrow until a function needs it).
"""

from strata.contract.spec import ColumnSpec, Contract, from_metadata, read_contract

__all__ = ["ColumnSpec", "Contract", "from_metadata", "read_contract"]
