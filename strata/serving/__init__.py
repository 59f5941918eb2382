"""Scoring: the contract at the door, `strata predict` (files) and `strata serve` (HTTP)."""
