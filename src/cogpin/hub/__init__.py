"""The hub: a self-hosted service serving Replicate's HTTP API for models pushed to a registry.

- ``core``: the pure part (API objects, the prediction state machine, input checks against a model's
  schema, problem bodies, webhook signing, SSE framing, cursors); tested without an engine.
- ``store``: what the hub keeps (predictions, files, tokens, versions seen) on ``database`` (SQLite in WAL
  mode or PostgreSQL, versioned migrations), plus content-addressed files on disk.
- ``registry_index``: models and versions read from a registry's HTTP API (labels, no pull); ``catalog``:
  them as the API shows them, remembered in the store.
- ``runner``: the small interface that starts, calls, stops and lists model instances, and its Docker
  Engine backend; ``swarm`` (with ``swarm_api`` and the pure ``scaling``): the cluster backend.
- ``service``: the ``Hub`` that ties them together (a prediction from create to its end), on ``pools``
  (instances per version), ``live`` (SSE events), ``webhooks`` and ``prediction_files``.
- ``app``: the Starlette app (``/v1/...``); ``status``: ``GET /v1/hub/status``; ``server``: ``cogpin hub
  serve`` and the token commands, whose flags are in ``cli``; ``web``: the web pages.
"""
