"""The base layer every other package stands on: the exceptions reglab raises
(:mod:`~reglab.core.errors`), the one argument check and its error sentence
(:mod:`~reglab.core.checks`), atomic file writes (:mod:`~reglab.core.files`),
small typed registries (:mod:`~reglab.core.registry`) and the version.

Nothing here imports torch's training machinery or any other reglab package.
"""
