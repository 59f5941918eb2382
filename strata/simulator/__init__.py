"""The embedded default feed: the generating process, site delivery styles and mess, the oracle."""
