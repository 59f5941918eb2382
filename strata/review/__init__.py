"""Reviewer tools: snapshots, diffs, lineage, the report and its gate, read through DVC's own API."""
