"""Partner data sources: YAML source profiles and the readers they name.

Callers use `node.sources.profile.load_profile` and
`node.sources.registry.read_source`; docs/source-profiles.md is the reference.
"""
