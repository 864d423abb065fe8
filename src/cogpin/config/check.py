"""The cog.yaml schema, checked: :class:`Checker` turns the parsed YAML into a :class:`Config`, one method
per key, and raises the first problem as a ConfigError naming file, line and key, with the fix."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from cogpin.config.model import (
    BUILD_KEYS,
    CONCURRENCY_KEYS,
    CONFIG_NAME,
    DEFAULT_PYTHON_VERSION,
    MAX_PYTHON_MINOR,
    MIN_PYTHON_MINOR,
    MOUNT_KEYS,
    RESERVED_ENV_NAMES,
    RESERVED_ENV_PREFIXES,
    RUN_ITEM_KEYS,
    TOP_LEVEL_KEYS,
    Config,
    Requirements,
    RunStep,
    SecretMount,
)
from cogpin.config.requirements import RequirementsParser
from cogpin.config.yaml_lines import FieldReader, Map, Seq, plain, type_name, yaml_str
from cogpin.fsutil import display_path, relative_posix

_PREDICT_REF = re.compile(r"^(?P<file>[^:]+\.py):(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")
_PYTHON_VERSION = re.compile(r"^3\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?$")
_CUDA_VERSION = re.compile(r"^\d+(?:\.\d+){0,2}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Docker image reference: [registry[:port]/]path[:tag][@digest], lowercase path components.
_IMAGE_REF = re.compile(
    r"^(?:(?P<registry>[a-zA-Z0-9.-]+(?::\d+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


class Checker(FieldReader):
    """Validates one cog.yaml; raises the first problem as a ConfigError naming file, line and key."""

    def __init__(self, path: Path, root: Path) -> None:
        super().__init__(path)
        self.root = root
        self.build_line = 1

    def ref(self, mapping: Map, key: str, name: str, example: str) -> str | None:
        value = self.string(mapping, key, name, f'"{example}"')
        if value is None:
            return None
        line = mapping.value_lines.get(key)
        match = _PREDICT_REF.match(value)
        if not match:
            raise self.fail(
                line,
                name,
                f"{yaml_str(value)} is not of the form file.py:Name.",
                f'name the Python file (relative to the project) and the class or function in it, e.g. {key}: "{example}"',
            )
        file = match.group("file")
        target = (self.root / file).resolve()
        if not target.is_file():
            raise self.fail(
                line,
                name,
                f"{file} does not exist in the project ({display_path(self.root / file)}).",
                f"create {file}, or fix the path (it is relative to the folder that holds {CONFIG_NAME}).",
            )
        return value

    # -- the whole file

    def check(self, data: Map) -> Config:
        self.check_keys(
            data,
            TOP_LEVEL_KEYS,
            "",
            {k: "under `build:`" for k in BUILD_KEYS if k != "run"},
        )
        build = self.build(data)
        gpu = self.gpu(build)
        python_version = self.python_version(build)
        requirements = self.requirements(build)
        system_packages = self.system_packages(build)
        run = self.run_steps(build)
        cuda = self.version_string(build, "cuda", "12.1")
        cudnn = self.version_string(build, "cudnn", "8")
        if not gpu:
            for key, value in (("cuda", cuda), ("cudnn", cudnn)):
                if value is not None:
                    self.warn(
                        build.key_lines.get(key), f"build.{key}", "is ignored because build.gpu is not true."
                    )
        return Config(
            path=self.path,
            root=self.root,
            gpu=gpu,
            python_version=python_version,
            requirements=requirements,
            system_packages=system_packages,
            run=run,
            cuda=cuda,
            cudnn=cudnn,
            predict=self.predict(data),
            train=self.ref(data, "train", "train", "train.py:train"),
            image=self.image(data),
            concurrency_max=self.concurrency(data),
            environment=self.environment(data),
            raw=plain(data),
            warnings=tuple(self.warnings),
        )

    # -- one method per key

    def build(self, data: Map) -> Map:
        build = self.mapping(data, "build", "build", '  build:\n    python_version: "3.12"')
        if build is None:
            build = Map()
            build.line, build.key_lines, build.value_lines, build.source = data.line, {}, {}, {}
            build.key_source = {}
        self.build_line = data.key_lines.get("build", 1)
        self.check_keys(
            build,
            BUILD_KEYS,
            "build.",
            {
                k: "at the top level (not under `build:`)"
                for k in ("predict", "train", "image", "concurrency", "environment")
            },
        )
        return build

    def gpu(self, build: Map) -> bool:
        gpu_value = build.get("gpu", False)
        if gpu_value is None:
            gpu_value = False
        if not isinstance(gpu_value, bool):
            raise self.fail(
                build.value_lines.get("gpu"),
                "build.gpu",
                f"must be true or false, not {type_name(gpu_value)} ({build.source.get('gpu', gpu_value)!r}).",
                "write gpu: true or gpu: false (without quotes).",
            )
        return gpu_value

    def system_packages(self, build: Map) -> tuple[str, ...]:
        return tuple(
            v for v, _ in self.string_list(build, "system_packages", "build.system_packages", '"libgl1"')
        )

    def predict(self, data: Map) -> str | None:
        if "predict" in data and "run" in data:
            raise self.fail(
                data.key_lines["run"],
                "run",
                f"both `predict:` (line {data.key_lines['predict']}) and `run:` are given; they are the same setting.",
                "keep one: `run:` is the newer name, `predict:` the older.",
            )
        predict_key = "run" if "run" in data else "predict"
        return self.ref(data, predict_key, predict_key, "predict.py:Predictor")

    def image(self, data: Map) -> str | None:
        image = self.string(data, "image", "image", '"r8.im/user/model"')
        if image is not None and not _IMAGE_REF.match(image):
            raise self.fail(
                data.value_lines.get("image"),
                "image",
                f"{yaml_str(image)} is not a valid image name.",
                "use lowercase letters, digits and . _ - / separators, an optional registry and :tag, "
                "e.g. image: r8.im/user/model",
            )
        return image

    def python_version(self, build: Map) -> str:
        if "python_version" not in build:
            self.warn(
                self.build_line,
                "build.python_version",
                f'not set; using {DEFAULT_PYTHON_VERSION} (Cog\'s default). Set it, e.g. python_version: "3.12".',
            )
            return DEFAULT_PYTHON_VERSION
        value = self.string(build, "python_version", "build.python_version", "3.12")
        assert value is not None
        line = build.value_lines.get("python_version")
        match = _PYTHON_VERSION.match(value)
        if not match:
            raise self.fail(
                line,
                "build.python_version",
                f"{yaml_str(value)} is not a Python version of the form 3.X or 3.X.Y.",
                'write e.g. python_version: "3.12" or "3.12.4"',
            )
        minor = int(match.group("minor"))
        if minor < MIN_PYTHON_MINOR:
            raise self.fail(
                line,
                "build.python_version",
                f"minimum supported Python version is 3.{MIN_PYTHON_MINOR} (got {value}), as with Cog.",
                f'use python_version: "3.{MIN_PYTHON_MINOR}" or newer (update the model\'s code if it needs it).',
            )
        if minor > MAX_PYTHON_MINOR:
            raise self.fail(
                line,
                "build.python_version",
                f"Python {value} is not supported (supported: 3.{MIN_PYTHON_MINOR} to 3.{MAX_PYTHON_MINOR}).",
                'pick a supported version, e.g. python_version: "3.12"',
            )
        return value

    def version_string(self, build: Map, key: str, example: str) -> str | None:
        value = self.string(build, key, f"build.{key}", example)
        if value is not None and not _CUDA_VERSION.match(value):
            raise self.fail(
                build.value_lines.get(key),
                f"build.{key}",
                f"{yaml_str(value)} is not a version number.",
                f'write e.g. {key}: "{example}"',
            )
        return value

    def requirements(self, build: Map) -> Requirements:
        if "python_packages" in build and "python_requirements" in build:
            first, second = sorted(
                ("python_packages", "python_requirements"), key=lambda k: build.key_lines[k]
            )
            raise self.fail(
                build.key_lines[second],
                f"build.{second}",
                f"both build.python_packages and build.python_requirements are given (the other on line "
                f"{build.key_lines[first]}); use one.",
                "move the packages into the requirements file and remove python_packages "
                "(python_requirements is the newer form).",
            )
        if "python_requirements" in build:
            file = self.string(build, "python_requirements", "build.python_requirements", "requirements.txt")
            assert file is not None
            line = build.value_lines.get("python_requirements")
            target = self.root / file
            if not target.is_file():
                raise self.fail(
                    line,
                    "build.python_requirements",
                    f"{file}: no such file ({display_path(target)}).",
                    f"create it, or fix the path (it is relative to the folder that holds {CONFIG_NAME}).",
                )
            parser = RequirementsParser(self.root, f"build.python_requirements in {self.shown}:{line}")
            parser.read_file(Path(os.path.abspath(target)), ())
            return parser.result(file=relative_posix(self.root, Path(os.path.abspath(target))))
        items = self.string_list(build, "python_packages", "build.python_packages", '"torch==2.3.1"')
        parser = RequirementsParser(self.root, "build.python_packages")
        for index, (text, line) in enumerate(items):
            parser.line(
                text, source=self.shown, line=line, key=f"build.python_packages[{index}]", base=self.root
            )
        return parser.result(file=None)

    def run_steps(self, build: Map) -> tuple[RunStep, ...]:
        steps: list[RunStep] = []
        if "pre_install" in build:
            for pre_command, _ in self.string_list(build, "pre_install", "build.pre_install", '"echo hello"'):
                steps.append(RunStep(command=pre_command))
            self.warn(
                build.key_lines.get("pre_install"),
                "build.pre_install",
                "is deprecated; move its commands to build.run (they run first, before build.run's).",
            )
        value = build.get("run")
        if value is None:
            return tuple(steps)
        line = build.value_lines.get("run")
        if not isinstance(value, Seq):
            raise self.fail(
                line,
                "build.run",
                f"must be a list of commands, not {type_name(value)}.",
                'write it as a list:\n    run:\n      - "echo hello"',
            )
        for index, item in enumerate(value):
            steps.append(self.run_step(item, f"build.run[{index}]", value.item_lines[index]))
        return tuple(steps)

    def run_step(self, item: Any, name: str, item_line: int) -> RunStep:
        """One build.run item: a command string, or ``{command, mounts}``."""
        if isinstance(item, str):
            if not item.strip():
                raise self.fail(item_line, name, "is an empty command.", "remove it.")
            return RunStep(command=item.strip())
        if not isinstance(item, Map):
            raise self.fail(
                item_line,
                name,
                f"must be a command string or a mapping {{command, mounts}}, not {type_name(item)}.",
                'e.g. - "echo hello", or - {command: "...", mounts: [{type: secret, id: mytoken, target: /run/secrets/tok}]}',
            )
        self.check_keys(item, RUN_ITEM_KEYS, f"{name}.", {})
        command = self.string(item, "command", f"{name}.command", '"pip install ..."')
        if command is None:
            raise self.fail(
                item.line, f"{name}.command", "is missing.", 'give the shell command: command: "..."'
            )
        mounts: list[SecretMount] = []
        mounts_value = item.get("mounts")
        if mounts_value is not None:
            if not isinstance(mounts_value, Seq):
                raise self.fail(
                    item.value_lines.get("mounts"),
                    f"{name}.mounts",
                    f"must be a list of mounts, not {type_name(mounts_value)}.",
                    "e.g. mounts: [{type: secret, id: mytoken, target: /run/secrets/tok}]",
                )
            for m_index, mount in enumerate(mounts_value):
                mounts.append(
                    self.mount(mount, f"{name}.mounts[{m_index}]", mounts_value.item_lines[m_index])
                )
        return RunStep(command=command, mounts=tuple(mounts))

    def mount(self, mount: Any, m_name: str, m_line: int) -> SecretMount:
        """One ``mounts:`` item of a build.run step: ``{type: secret, id, target}``."""
        if not isinstance(mount, Map):
            raise self.fail(
                m_line,
                m_name,
                f"must be a mapping {{type, id, target}}, not {type_name(mount)}.",
                "e.g. - {type: secret, id: mytoken, target: /run/secrets/tok}",
            )
        self.check_keys(mount, MOUNT_KEYS, f"{m_name}.", {})
        for required in MOUNT_KEYS:
            if required not in mount:
                raise self.fail(
                    mount.line,
                    f"{m_name}.{required}",
                    "is missing.",
                    "a mount needs type: secret, id: <secret id> and target: <path in the build>.",
                )
        m_type = self.string(mount, "type", f"{m_name}.type", "secret")
        if m_type != "secret":
            raise self.fail(
                mount.value_lines.get("type"),
                f"{m_name}.type",
                f"{yaml_str(str(m_type))} is not supported; only secret mounts are.",
                "write type: secret",
            )
        m_id = self.string(mount, "id", f"{m_name}.id", "mytoken")
        m_target = self.string(mount, "target", f"{m_name}.target", "/run/secrets/tok")
        assert m_id is not None and m_target is not None
        if not re.match(r"^[A-Za-z0-9_.-]+$", m_id):
            raise self.fail(
                mount.value_lines.get("id"),
                f"{m_name}.id",
                f"{yaml_str(m_id)} is not a valid secret id.",
                "use letters, digits, '.', '_' and '-' (the id passed to `--secret id=…`).",
            )
        if not m_target.strip() or "\x00" in m_target:
            raise self.fail(
                mount.value_lines.get("target"),
                f"{m_name}.target",
                f"{yaml_str(m_target)} is not a path.",
                "give the path where the secret appears during the build, e.g. target: /run/secrets/tok",
            )
        # a relative target is relative to the step's working directory, as with Cog (BuildKit's rule)
        return SecretMount(id=m_id, target=m_target)

    def concurrency(self, data: Map) -> int | None:
        block = self.mapping(data, "concurrency", "concurrency", "  concurrency:\n    max: 4")
        if block is None:
            return None
        self.check_keys(block, CONCURRENCY_KEYS, "concurrency.", {})
        if "max" not in block:
            return None
        value = block["max"]
        line = block.value_lines.get("max")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(
                line,
                "concurrency.max",
                f"must be a whole number, not {type_name(value)} ({block.source.get('max', value)!r}).",
                "write e.g. max: 4 (without quotes).",
            )
        if value < 1:
            raise self.fail(line, "concurrency.max", f"must be at least 1, not {value}.", "write e.g. max: 4")
        return value

    def environment(self, data: Map) -> tuple[tuple[str, str], ...]:
        value = data.get("environment")
        line = data.value_lines.get("environment")
        if value is None:
            return ()
        if isinstance(value, Map):
            example = "\n".join(f"      - {k}={v}" for k, v in list(value.items())[:3])
            raise self.fail(
                line,
                "environment",
                "must be a list of NAME=value strings, not a mapping.",
                f"write it as a list:\n    environment:\n{example}",
            )
        items = self.string_list(data, "environment", "environment", '"NAME=value"')
        seen: dict[str, int] = {}
        result: list[tuple[str, str]] = []
        for index, (item, item_line) in enumerate(items):
            name_key = f"environment[{index}]"
            if "=" not in item:
                raise self.fail(
                    item_line,
                    name_key,
                    f"{yaml_str(item)} is not of the form NAME=value.",
                    f'write e.g. - "{item}=value"',
                )
            name, env_value = item.split("=", 1)
            name = name.strip()
            if not _ENV_NAME.match(name):
                raise self.fail(
                    item_line,
                    name_key,
                    f"{yaml_str(name)} is not a valid variable name.",
                    "use letters, digits and _, not starting with a digit.",
                )
            if name in RESERVED_ENV_NAMES:
                raise self.fail(
                    item_line,
                    name_key,
                    f"{name} is reserved (Cog refuses it: the image and platform set it).",
                    f"remove it; reserved names: {', '.join(sorted(RESERVED_ENV_NAMES))}.",
                )
            prefix = next((p for p in RESERVED_ENV_PREFIXES if name.startswith(p)), None)
            if prefix:
                raise self.fail(
                    item_line,
                    name_key,
                    f"{name} uses the reserved prefix {prefix} (Cog refuses it).",
                    f"rename it; reserved prefixes: {', '.join(RESERVED_ENV_PREFIXES)}.",
                )
            if name in seen:
                raise self.fail(
                    item_line,
                    name_key,
                    f"{name} is set twice (first on line {seen[name]}).",
                    "keep one of them.",
                )
            seen[name] = item_line
            result.append((name, env_value))
        return tuple(result)


# ------------------------------------------------------------------------------- requirements files
