"""`cogpin predict [IMAGE]`: one prediction, from source (environment image + the project mounted, so
editing predict.py needs no rebuild) or from a built IMAGE.

Order of work: inputs are checked against the schema before any prediction container starts; the
container is started on a random 127.0.0.1 port, its health check polled until READY, one
``POST /predictions`` made, the output written/printed, and the container removed (always).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import click

from cogpin import inputs, outputs
from cogpin import inputs as inputs_mod
from cogpin.commands._common import load_config, lock_mode, parse_env, source_spec
from cogpin.commands._common import note as _note
from cogpin.config import Config
from cogpin.containers import images, source
from cogpin.containers import spec as containers
from cogpin.containers.model_server import ModelContainer, Timing
from cogpin.containers.spec import RunSpec, SetupFailed
from cogpin.errors import CogpinError


@dataclass(frozen=True)
class Kind:
    """A prediction or a training (``cog train``): the route, the schema components, the config key."""

    route: str
    input_component: str
    output_component: str
    key: str
    example: str


PREDICT = Kind("predictions", "Input", "Output", "predict", 'predict: "predict.py:Predictor"')
TRAIN = Kind("trainings", "TrainingInput", "TrainingOutput", "train", 'train: "train.py:train"')


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
    train: bool = False,
) -> int:
    timing = Timing()
    timing.mark("cli")
    kind = TRAIN if train else PREDICT
    try:
        return _predict(
            timing,
            config_file,
            frozen,
            relock,
            image,
            inputs,
            json_input,
            output,
            envs,
            gpus,
            setup_timeout,
            kind,
        )
    except inputs_mod.InputError as e:
        for line in e.lines:
            click.echo(f"error: {line}", err=True)
        if e.hint:
            click.echo(f"  hint: {e.hint}", err=True)
        return 1


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
    kind: Kind = PREDICT,
) -> int:
    from cogpin import engine

    json_inputs = inputs.load_json_arg(json_input) if json_input is not None else None
    user_env = parse_env(envs)
    client = engine.client()

    if image:
        spec, schema, config_gpu = _from_image(client, image, timing)
    else:
        spec, schema, config_gpu = _from_source(
            client, timing, load_config(config_file), (frozen, relock), pairs, json_inputs, kind
        )

    if (
        kind is TRAIN
        and schema is not None
        and kind.input_component not in schema.get("components", {}).get("schemas", {})
    ):
        raise CogpinError(
            f"{image or 'this model'} has no training (no /trainings in its schema)",
            f"add `{kind.example}` to cog.yaml and build again.",
        )
    parsed = inputs.parse(pairs, schema, json_inputs, component=kind.input_component)
    timing.mark("validate")

    spec.env.update({"COG_SETUP_TIMEOUT": f"{setup_timeout:g}", **user_env})
    spec.publish = {containers.SERVER_PORT: None}
    spec.gpus = containers.choose_gpus(gpus, config_gpu, client, _note)
    spec.role = "predict"

    return _run(client, spec, timing, parsed, schema, output, json_input is not None, kind, setup_timeout)


def _from_image(client: Any, image: str, timing: Timing) -> tuple[RunSpec, dict[str, Any] | None, bool]:
    """The container spec, schema and GPU wish of a built IMAGE (pulled when missing)."""
    image_ref = images.ensure_image(client, image, _note)
    schema, config_gpu = images.image_schema(client, image_ref)
    timing.mark("image")
    return RunSpec(image=image_ref, command=None), schema, config_gpu


def _from_source(
    client: Any, timing: Timing, config: Config, frozen_relock: tuple[bool, bool], pairs: tuple[str, ...],
    json_inputs: Any, kind: Kind,
) -> tuple[RunSpec, dict[str, Any] | None, bool]:  # fmt: skip
    """The container spec, schema and GPU wish of the project from source (the environment image)."""
    if not getattr(config, kind.key):
        raise CogpinError(
            f"{config.path.name} has no {kind.key}: entry, so there is nothing to "
            + ("predict with" if kind is PREDICT else "train"),
            f"add `{kind.example}` to cog.yaml (or give an IMAGE).",
        )
    if not _environment_image_exists(client, config):
        # nothing is built yet: name unknown inputs from the source now (as Cog does), rather than
        # after a build; once the environment exists the schema check below says everything at once
        inputs.check_names_early(
            pairs,
            json_inputs,
            inputs.static_input_names(config.root, getattr(config, kind.key), kind.key),
        )
    spec = source_spec(config, lock_mode(*frozen_relock), list(containers.DEFAULT_COMMAND))
    timing.mark("env-image")
    schema = source.source_schema(client, spec.image, config)
    timing.mark("schema")
    return spec, schema, config.gpu


def _run(
    client: Any, spec: RunSpec, timing: Timing, parsed: Any, schema: dict[str, Any] | None, output: str | None,
    as_json: bool, kind: Kind, setup_timeout: float,
) -> int:  # fmt: skip
    """The prediction in a container of ``spec``, its output shown or written; the container removed."""
    writer = outputs.OutputWriter(output, protected=parsed.files)
    live = Live(schema, stream_text=output is None, component=kind.output_component) if not as_json else None
    code = 0
    try:
        with ModelContainer(client, spec, timing) as mc:
            mc.wait_ready(setup_timeout, on_setup_log=_setup_log)
            prediction = mc.predict(
                parsed.values, on_progress=live.update if live else None, route=kind.route
            )
            code = _show(prediction, writer, schema, live, kind)
            timing.mark("write")
    except SetupFailed as e:
        if e.logs:
            click.echo(e.logs, err=True)
        raise
    timing.mark("remove")
    timing.report()
    return code


def _environment_image_exists(client: Any, config: Any) -> bool:
    """The project's environment image (``<name>-env``) is on the engine: the schema is moments away."""
    from cogpin.builder import default_tag, repository

    try:
        client.images.get(f"{repository(default_tag(config))}-env:latest")
    except Exception:  # noqa: BLE001 - not there (or no answer): treat as not built
        return False
    return True


class Live:
    """A running prediction's progress: new log text to stderr; ConcatenateIterator tokens to stdout as
    they come (when the output is printed, not written to -o)."""

    def __init__(self, schema: Any, stream_text: bool, component: str = "Output") -> None:
        out_schema = outputs.output_schema(schema, component)
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


def _show(
    prediction: dict[str, Any],
    writer: outputs.OutputWriter,
    schema: Any,
    live: Live | None,
    kind: Kind = PREDICT,
) -> int:
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
    writer.write(out, schema, kind.output_component)
    sys.stdout.flush()
    return 0
