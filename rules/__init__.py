"""The rules engine: keyword normalisation and matching, rule sets loaded from
TOML, pure decisions."""
