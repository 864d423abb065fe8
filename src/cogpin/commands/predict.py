"""`cogpin predict [IMAGE]`: one prediction, from source (environment image + the project mounted, so
editing predict.py needs no rebuild) or from a built IMAGE.

Order of work: inputs are checked against the schema before any prediction container starts; the
container is started on a random 127.0.0.1 port, its health check polled until READY, one
``POST /predictions`` made, the output written/printed, and the container removed (always).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from cogpin import containers, inputs, outputs
from cogpin import inputs as inputs_mod
from cogpin.containers import ModelContainer, RunSpec, SetupFailed, Timing
from cogpin.errors import CogpinError


def main(
    config_file: str | None = None,
    frozen: bool = False,
    relock: bool = False,
    image: str | None = None,
    inputs: tuple[str, ...] = (),
    json_input: str | None = None,
    output: str | None = None,
    envs: tuple[str, ...] = (),
    gpus: str | None = None,
    setup_timeout: float = 300.0,
) -> int:
    timing = Timing()
    timing.mark("cli")
    try:
        return _predict(
            timing, config_file, frozen, relock, image, inputs, json_input, output, envs, gpus, setup_timeout
        )
    except inputs_mod.InputError as e:
        for line in e.lines:
            click.echo(f"error: {line}", err=True)
        if e.hint:
            click.echo(f"  hint: {e.hint}", err=True)
        return 1


def _note(msg: str) -> None:
    click.echo(msg, err=True)


def _setup_log(text: str) -> None:
    """setup() output, shown as it comes (on stderr: stdout is the prediction's output)."""
    click.echo(text, err=True, nl=False)


def _predict(
    timing: Timing,
    config_file: str | None,
    frozen: bool,
    relock: bool,
    image: str | None,
    pairs: tuple[str, ...],
    json_input: str | None,
    output: str | None,
    envs: tuple[str, ...],
    gpus: str | None,
    setup_timeout: float,
) -> int:
    from cogpin import engine

    json_inputs = inputs.load_json_arg(json_input) if json_input is not None else None
    user_env = containers.parse_env(envs)
    client = engine.client()

    if image:
        image_ref = containers.ensure_image(client, image, _note)
        schema, config_gpu = containers.image_schema(client, image_ref)
        spec = RunSpec(image=image_ref, command=None)
        timing.mark("image")
    else:
        from cogpin.config import load

        config = load(config_file)
        for w in config.warnings:
            _note(f"warning: {w}")
        if not config.predict:
            raise CogpinError(
                f"{config.path.name} has no predict: entry, so there is nothing to predict with",
                'add `predict: "predict.py:Predictor"` to cog.yaml (or give an IMAGE).',
            )
        built = containers.environment_image(config, frozen=frozen, relock=relock)
        timing.mark("env-image")
        schema = containers.source_schema(client, built.id, config)
        timing.mark("schema")
        config_gpu = config.gpu
        spec = RunSpec(
            image=built.id,
            command=list(containers.DEFAULT_COMMAND),
            env=containers.project_env(config),
            mounts=containers.project_mount(config.root),
            working_dir="/src",
        )

    parsed = inputs.parse(pairs, schema, json_inputs)
    timing.mark("validate")

    spec.env.update({"COG_SETUP_TIMEOUT": f"{setup_timeout:g}", **user_env})
    spec.publish = {containers.SERVER_PORT: None}
    spec.gpus = containers.choose_gpus(gpus, config_gpu, client, _note)
    spec.role = "predict"

    writer = outputs.OutputWriter(output, protected=parsed.files)
    as_json = json_input is not None
    live = Live(schema, stream_text=output is None) if not as_json else None
    code = 0
    try:
        with ModelContainer(client, spec, timing) as mc:
            mc.wait_ready(setup_timeout, on_setup_log=_setup_log)
            prediction = mc.predict(parsed.values, on_progress=live.update if live else None)
            code = _show(prediction, writer, schema, live)
            timing.mark("write")
    except SetupFailed as e:
        if e.logs:
            click.echo(e.logs, err=True)
        raise
    timing.mark("remove")
    timing.report()
    return code


class Live:
    """A running prediction's progress: new log text to stderr; ConcatenateIterator tokens to stdout as
    they come (when the output is printed, not written to -o)."""

    def __init__(self, schema: Any, stream_text: bool) -> None:
        out_schema = outputs.output_schema(schema)
        self.concat = stream_text and out_schema.get("x-cog-array-display") == "concatenate"
        self.logs_shown = 0
        self.text_shown = 0

    def update(self, prediction: dict[str, Any]) -> None:
        logs = str(prediction.get("logs") or "")
        if len(logs) > self.logs_shown:
            click.echo(logs[self.logs_shown :], err=True, nl=False)
            self.logs_shown = len(logs)
        out = prediction.get("output")
        if self.concat and isinstance(out, list) and all(isinstance(x, str) for x in out):
            text = "".join(out)
            if len(text) > self.text_shown:
                sys.stdout.write(text[self.text_shown :])
                sys.stdout.flush()
                self.text_shown = len(text)


def _show(prediction: dict[str, Any], writer: outputs.OutputWriter, schema: Any, live: Live | None) -> int:
    status = prediction.get("status")
    if live is None:  # --json: the whole prediction
        writer.write_prediction(prediction)
        return 0 if status == "succeeded" else 1
    logs = str(prediction.get("logs") or "")[live.logs_shown :].rstrip()
    if logs:
        click.echo(logs, err=True)
    out = prediction.get("output")
    if live.text_shown:  # tokens were printed as they came: finish the line
        text = "".join(out) if isinstance(out, list) and all(isinstance(x, str) for x in out) else ""
        sys.stdout.write(text[live.text_shown :] + "\n")
        sys.stdout.flush()
        if status == "succeeded":
            return 0
    if status != "succeeded":
        error = prediction.get("error") or f"the prediction ended with status {status}"
        click.echo(f"error: the prediction failed: {error}", err=True)
        return 1
    writer.write(out, schema)
    sys.stdout.flush()
    return 0
