"""Object storage tiers: roles and IAM policies, the loopback S3 server, DVC remotes per tier."""
