"""Containers cogpin starts on the engine: ``spec`` (what to run, create/start/remove, GPUs, signals),
``model_server`` (a model's HTTP API: wait for it, predict, always remove), ``source`` (the model from
source: the environment image, the runtime's environment, the one schema runner) and ``images`` (images
given by name: pull, read their labels)."""
