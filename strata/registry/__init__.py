"""Model versions and stages: GTO's git tags (`model@v1.3.0`, `model#prod#4`) on the `artifacts:` of dvc.yaml.

GTO owns the tags and their meaning; DVC owns the bytes (the shared tier) and the artifact's path. This
package adds only what they lack: the gate on promotion, publishing the files before a version is tagged,
reading a version's card and metrics at its commit, and following a stage for a server.

For a server (`strata serve --model model#prod`): :func:`strata.registry.source.resolve`,
:func:`strata.registry.source.fetch` and :class:`strata.registry.watch.StageWatcher`.
"""
