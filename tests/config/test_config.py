"""cog.yaml: finding, parsing, validation (every error names file, line, key and fix), derived views."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from cogpin.config import (
    Config,
    ConfigError,
    Requirements,
    RunStep,
    SecretMount,
    canonical_requirement,
    effective_json,
    find_config,
    load,
    load_config,
)
from cogpin.lock.inputs import canonical_inputs


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with predict.py and train.py; the current folder is the project."""
    (tmp_path / "predict.py").write_text("class Predictor: ...\n")
    (tmp_path / "train.py").write_text("def train(): ...\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cfg(project: Path, text: str) -> Config:
    return load_config(write(project / "cog.yaml", text))


def error(project: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        cfg(project, text)
    return info.value


# ------------------------------------------------------------------------------------------ happy paths


def test_full_config(project: Path) -> None:
    write(project / "requirements.txt", "torch==2.3.1\npillow\n")
    c = cfg(
        project,
        """
        # a comment
        build:
          gpu: true
          python_version: "3.12"
          python_requirements: requirements.txt
          system_packages: [libgl1, ffmpeg]
          run:
            - echo hello
            - command: pip download private
              mounts:
                - type: secret
                  id: pip-token
                  target: /run/secrets/pip
          cuda: "12.1"
          cudnn: "8"
        predict: "predict.py:Predictor"
        train: "train.py:train"
        image: r8.im/user/model
        concurrency:
          max: 4
        environment:
          - HF_HOME=/src/hf
          - EMPTY=
          - EQ=a=b
        """,
    )
    assert c.path == project / "cog.yaml"
    assert c.root == project
    assert c.gpu is True
    assert c.python_version == "3.12"
    assert c.requirements == Requirements(
        file="requirements.txt", lines=("torch==2.3.1", "pillow"), files=("requirements.txt",)
    )
    assert c.system_packages == ("libgl1", "ffmpeg")
    assert c.run == (
        RunStep("echo hello"),
        RunStep("pip download private", (SecretMount(id="pip-token", target="/run/secrets/pip"),)),
    )
    assert (c.cuda, c.cudnn) == ("12.1", "8")
    assert c.predict == "predict.py:Predictor"
    assert c.train == "train.py:train"
    assert c.image == "r8.im/user/model"
    assert c.concurrency_max == 4
    assert c.environment == (("HF_HOME", "/src/hf"), ("EMPTY", ""), ("EQ", "a=b"))
    assert c.warnings == ()
    assert c.raw["build"]["system_packages"] == ["libgl1", "ffmpeg"]
    assert type(c.raw) is dict and type(c.raw["build"]) is dict


def test_minimal_config_defaults(project: Path) -> None:
    c = cfg(project, 'build:\n  python_version: "3.11.4"\n')
    assert c.gpu is False
    assert c.python_version == "3.11.4"
    assert c.requirements == Requirements(file=None)
    assert (c.system_packages, c.run, c.environment) == ((), (), ())
    assert (c.cuda, c.cudnn, c.predict, c.train, c.image, c.concurrency_max) == (None,) * 6


def test_python_packages(project: Path) -> None:
    c = cfg(
        project,
        """
        build:
          python_version: "3.12"
          python_packages:
            - torch==2.3.1
            - "numpy>=1.26; python_version >= '3.9'"
        """,
    )
    assert c.requirements.file is None
    assert c.requirements.lines == ("torch==2.3.1", "numpy>=1.26; python_version >= '3.9'")
    assert c.requirements.files == ()


def test_python_packages_with_index_options(project: Path) -> None:
    c = cfg(
        project,
        """
        build:
          python_version: "3.12"
          python_packages:
            - --extra-index-url https://download.pytorch.org/whl/cu121
            - torch==2.3.1
        """,
    )
    assert c.requirements.extra_index_urls == ("https://download.pytorch.org/whl/cu121",)
    assert c.requirements.lines == ("torch==2.3.1",)


def test_run_key_is_the_newer_predict(project: Path) -> None:
    c = cfg(project, 'build:\n  python_version: "3.12"\nrun: "predict.py:Predictor"\n')
    assert c.predict == "predict.py:Predictor"
    assert effective_json(c)["predict"] == "predict.py:Predictor"


def test_missing_python_version_warns_and_uses_cogs_default(project: Path) -> None:
    c = cfg(project, "build:\n  gpu: false\n")
    assert c.python_version == "3.13"
    assert len(c.warnings) == 1
    assert "cog.yaml:1: build.python_version: not set; using 3.13" in c.warnings[0]


def test_pre_install_is_deprecated_but_accepted(project: Path) -> None:
    c = cfg(
        project,
        """
        build:
          python_version: "3.12"
          pre_install:
            - echo first
          run:
            - echo second
        """,
    )
    assert [s.command for s in c.run] == ["echo first", "echo second"]
    assert len(c.warnings) == 1
    assert "cog.yaml:3: build.pre_install: is deprecated; move its commands to build.run" in c.warnings[0]


def test_cuda_without_gpu_warns(project: Path) -> None:
    c = cfg(project, 'build:\n  python_version: "3.12"\n  cuda: "12.1"\n')
    assert c.cuda == "12.1"
    assert any("build.cuda: is ignored because build.gpu is not true" in w for w in c.warnings)


def test_yaml_anchors_and_merge_keys(project: Path) -> None:
    c = cfg(
        project,
        """
        build:
          python_version: "3.12"
          system_packages: &pkgs [git, curl]
          run: [echo hi]
        environment: ["A=1"]
        """,
    )
    assert c.system_packages == ("git", "curl")


# ------------------------------------------------------------------------------------------ finding


def test_find_in_current_folder(project: Path) -> None:
    write(project / "cog.yaml", 'build:\n  python_version: "3.12"\n')
    assert find_config() == project / "cog.yaml"


def test_find_in_a_parent(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project / "cog.yaml", 'build:\n  python_version: "3.12"\n')
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_config() == project / "cog.yaml"
    assert find_config(start=deep) == project / "cog.yaml"
    assert load().root == project


def test_nearest_parent_wins(project: Path) -> None:
    write(project / "cog.yaml", 'build:\n  python_version: "3.12"\n')
    write(project / "sub" / "cog.yaml", 'build:\n  python_version: "3.11"\n')
    (project / "sub" / "inner").mkdir()
    assert find_config(start=project / "sub" / "inner") == project / "sub" / "cog.yaml"


def test_file_option_relative_to_cwd(project: Path) -> None:
    write(project / "models" / "x" / "cog.yaml", 'build:\n  python_version: "3.12"\n')
    assert find_config(file="models/x/cog.yaml") == project / "models" / "x" / "cog.yaml"
    assert find_config(file="models/x") == project / "models" / "x" / "cog.yaml"
    c = load(file="models/x/cog.yaml")
    assert c.root == project / "models" / "x"


def test_file_option_missing(project: Path) -> None:
    with pytest.raises(ConfigError) as info:
        find_config(file="nope.yaml")
    assert "nope.yaml: no such file (given with -f/--file)" in info.value.message
    assert info.value.hint and "relative to the current folder" in info.value.hint


def test_not_found_names_every_folder_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = tmp_path / "x" / "y"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    if any((p / "cog.yaml").exists() for p in deep.parents):
        pytest.skip("a cog.yaml exists above the temporary folder")
    with pytest.raises(ConfigError) as info:
        find_config()
    message = info.value.message
    assert message.startswith("no cog.yaml found in . or any parent folder (looked in: .")
    assert message.rstrip(").").endswith("/")
    assert str(tmp_path / "x") in message or "~" in message
    hint = info.value.hint or ""
    assert "cogpin init" in hint and "-f" in hint


# --------------------------------------------------------------------------------- file-level errors


def test_empty_file(project: Path) -> None:
    e = error(project, "# only a comment\n")
    assert e.message == "cog.yaml: the file is empty."
    assert e.hint and "python_version" in e.hint and "cogpin init" in e.hint


def test_not_a_mapping(project: Path) -> None:
    e = error(project, "- build\n- predict\n")
    assert e.message.startswith("cog.yaml:1: the file must be a mapping of keys")
    assert "not a list" in e.message


def test_yaml_syntax_error_names_line_and_column(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\n   gpu: true\n')
    assert e.message.startswith("cog.yaml:3:4: YAML syntax error: expected <block end>")
    assert "(while parsing a block mapping at line 2)" in e.message
    assert e.line == 3


def test_yaml_tab_error(project: Path) -> None:
    e = error(project, 'build:\n\tpython_version: "3.12"\n')
    assert e.message.startswith("cog.yaml:2:1: YAML syntax error")
    assert e.hint and "tabs" in e.hint


def test_duplicate_key(project: Path) -> None:
    e = error(project, 'build:\n  gpu: true\n  gpu: false\n  python_version: "3.12"\n')
    assert e.message == "cog.yaml:3: gpu: the key is given twice (first on line 2)."


# --------------------------------------------------------------------------------- key-level errors


def test_unknown_top_level_key_suggests_closest(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\npredcit: "predict.py:Predictor"\n')
    assert e.message == "cog.yaml:3: predcit: unknown key (Cog rejects it too)."
    assert e.hint and "did you mean `predict`?" in e.hint
    assert (e.line, e.key) == (3, "predcit")


def test_unknown_build_key_suggests_closest(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\n  system_package: [git]\n')
    assert e.message.startswith("cog.yaml:3: build.system_package: unknown key")
    assert e.hint and "did you mean `build.system_packages`?" in e.hint


def test_unknown_key_without_close_match_lists_valid_keys(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\nzzz: 1\n')
    assert e.hint and "valid keys here: build, predict" in e.hint


def test_build_key_at_top_level(project: Path) -> None:
    e = error(project, 'python_version: "3.12"\n')
    assert (
        e.message == "cog.yaml:1: python_version: unknown key here; `python_version` belongs under `build:`."
    )
    assert e.hint == "move `python_version:` under `build:`."


def test_top_level_key_under_build(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\n  predict: "predict.py:Predictor"\n')
    assert e.message.startswith(
        "cog.yaml:3: build.predict: unknown key here; `predict` belongs at the top level"
    )


def test_build_must_be_a_mapping(project: Path) -> None:
    e = error(project, "build: [gpu]\n")
    assert e.message == "cog.yaml:1: build: must be a mapping, not a list."


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (
            "3.10",
            'cog.yaml:2: build.python_version: 3.1 is a YAML number (3.10 read as 3.1); write it as a string: python_version: "3.10"',
        ),
        (
            "3.12",
            'cog.yaml:2: build.python_version: 3.12 is a YAML number, not a string; write it as a string: python_version: "3.12"',
        ),
        (
            "3",
            'cog.yaml:2: build.python_version: 3 is a YAML number, not a string; write it as a string: python_version: "3"',
        ),
    ],
)
def test_python_version_float_trap(project: Path, written: str, message: str) -> None:
    e = error(project, f"build:\n  python_version: {written}\n")
    assert e.message == message
    assert e.hint == f'quote it so YAML keeps it as written: python_version: "{written}"'
    assert (e.line, e.key) == (2, "build.python_version")


@pytest.mark.parametrize("version", ["3.7", "3.8", "3.9.18", "3.15", "2.7"])
def test_python_version_unsupported(project: Path, version: str) -> None:
    e = error(project, f'build:\n  python_version: "{version}"\n')
    assert e.message.startswith("cog.yaml:2: build.python_version:")
    if version == "3.15":
        assert "is not supported (supported: 3.10 to 3.14)" in e.message
    elif version.startswith("3."):
        # Cog's words (pkg/config/validate.go), which scripts grep
        assert f"minimum supported Python version is 3.10 (got {version})" in e.message
        assert e.hint is not None and '"3.10"' in e.hint
    else:
        assert "is not a Python version of the form 3.X or 3.X.Y" in e.message


def test_python_version_bad_form(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "python3.12"\n')
    assert "not a Python version of the form 3.X or 3.X.Y" in e.message
    assert e.hint and '"3.12"' in e.hint


@pytest.mark.parametrize(
    ("key", "value", "shown"), [("cuda", "12.1", "12.1"), ("cudnn", "8", "8"), ("cuda", "11.80", "11.8")]
)
def test_cuda_and_cudnn_numbers(project: Path, key: str, value: str, shown: str) -> None:
    e = error(project, f'build:\n  gpu: true\n  python_version: "3.12"\n  {key}: {value}\n')
    assert e.message.startswith(f"cog.yaml:4: build.{key}: {shown} is a YAML number")
    assert e.message.endswith(f'write it as a string: {key}: "{value}"')


def test_cuda_bad_form(project: Path) -> None:
    e = error(project, 'build:\n  gpu: true\n  python_version: "3.12"\n  cuda: "cu121"\n')
    assert e.message == 'cog.yaml:4: build.cuda: "cu121" is not a version number.'


@pytest.mark.parametrize("value", ['"true"', "1", "[true]"])
def test_gpu_must_be_bool(project: Path, value: str) -> None:
    e = error(project, f'build:\n  gpu: {value}\n  python_version: "3.12"\n')
    assert e.message.startswith("cog.yaml:2: build.gpu: must be true or false")
    assert e.hint == "write gpu: true or gpu: false (without quotes)."


def test_system_packages_must_be_a_list(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\n  system_packages: git\n')
    assert e.message == "cog.yaml:3: build.system_packages: must be a list, not a single string."
    assert e.hint and '- "git"' in e.hint


def test_list_item_wrong_type(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\n  system_packages:\n    - git\n    - {a: 1}\n')
    assert e.message == "cog.yaml:5: build.system_packages[1]: must be a string, not a mapping."


def test_list_item_number(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\n  python_packages:\n    - 1.0\n')
    assert e.message == "cog.yaml:4: build.python_packages[0]: 1.0 is a YAML number, not a string."


def test_both_python_packages_and_requirements(project: Path) -> None:
    write(project / "requirements.txt", "torch\n")
    e = error(
        project,
        """
        build:
          python_version: "3.12"
          python_packages: [torch]
          python_requirements: requirements.txt
        """,
    )
    assert e.message.startswith("cog.yaml:4: build.python_requirements: both build.python_packages and")
    assert "(the other on line 3)" in e.message
    assert e.hint and "python_requirements is the newer form" in e.hint


def test_missing_requirements_file(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\n  python_requirements: reqs/requirements.txt\n')
    assert e.message.startswith(
        "cog.yaml:3: build.python_requirements: reqs/requirements.txt: no such file (reqs/requirements.txt)"
    )
    assert e.hint and "relative to the folder that holds cog.yaml" in e.hint


def test_predict_and_run_both_given(project: Path) -> None:
    e = error(
        project,
        'build:\n  python_version: "3.12"\npredict: "predict.py:Predictor"\nrun: "predict.py:Predictor"\n',
    )
    assert e.message.startswith("cog.yaml:4: run: both `predict:` (line 3) and `run:` are given")
    assert e.hint and "keep one" in e.hint


@pytest.mark.parametrize("ref", ["predict.py", "predict:Predictor", "predict.py:", "predict.py:1x"])
def test_predict_ref_format(project: Path, ref: str) -> None:
    e = error(project, f'build:\n  python_version: "3.12"\npredict: "{ref}"\n')
    assert e.message == f'cog.yaml:3: predict: "{ref}" is not of the form file.py:Name.'
    assert e.hint and 'predict: "predict.py:Predictor"' in e.hint


def test_predict_file_missing(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\npredict: "src/model.py:Predictor"\n')
    assert e.message == "cog.yaml:3: predict: src/model.py does not exist in the project (src/model.py)."
    assert e.hint and "relative to the folder that holds cog.yaml" in e.hint


def test_train_file_missing(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\ntrain: "trainer.py:train"\n')
    assert e.message.startswith("cog.yaml:3: train: trainer.py does not exist")


def test_predict_must_be_string(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\npredict: [predict.py]\n')
    assert e.message == "cog.yaml:3: predict: must be a string, not a list."


@pytest.mark.parametrize("image", ["R8.im/User/Model", "my image", "r8.im/user/model:"])
def test_image_invalid(project: Path, image: str) -> None:
    e = error(project, f'build:\n  python_version: "3.12"\nimage: "{image}"\n')
    assert e.message == f'cog.yaml:3: image: "{image}" is not a valid image name.'


@pytest.mark.parametrize(
    "image", ["r8.im/user/model", "localhost:5000/a/b:v1", "model", "ghcr.io/org/my-model_x.y:1.0"]
)
def test_image_valid(project: Path, image: str) -> None:
    assert cfg(project, f'build:\n  python_version: "3.12"\nimage: "{image}"\n').image == image


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("0", "must be at least 1, not 0."),
        ("-2", "must be at least 1, not -2."),
        ('"4"', "must be a whole number, not a string"),
        ("2.5", "must be a whole number, not a YAML number"),
        ("true", "must be a whole number, not a boolean"),
    ],
)
def test_concurrency_max(project: Path, value: str, fragment: str) -> None:
    e = error(project, f'build:\n  python_version: "3.12"\nconcurrency:\n  max: {value}\n')
    assert e.message.startswith("cog.yaml:4: concurrency.max: ")
    assert fragment in e.message


def test_concurrency_unknown_key(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\nconcurrency:\n  maximum: 2\n')
    assert e.message.startswith("cog.yaml:4: concurrency.maximum: unknown key")
    assert e.hint and "did you mean `concurrency.max`?" in e.hint


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("PATH=/x", "PATH is reserved"),
        ("PYTHONPATH=/x", "PYTHONPATH is reserved"),
        ("CUDA_HOME=/x", "CUDA_HOME uses the reserved prefix CUDA_"),
        ("NV_X=1", "NV_X uses the reserved prefix NV_"),
        ("REPLICATE_API_TOKEN=1", "uses the reserved prefix REPLICATE_"),
        ("NOEQUALS", '"NOEQUALS" is not of the form NAME=value.'),
        ("1BAD=x", '"1BAD" is not a valid variable name.'),
    ],
)
def test_environment_errors(project: Path, item: str, fragment: str) -> None:
    e = error(project, f'build:\n  python_version: "3.12"\nenvironment:\n  - OK=1\n  - "{item}"\n')
    assert e.message.startswith("cog.yaml:5: environment[1]: ")
    assert fragment in e.message
    assert e.hint


def test_environment_duplicate(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\nenvironment:\n  - A=1\n  - B=2\n  - A=3\n')
    assert e.message == "cog.yaml:6: environment[2]: A is set twice (first on line 4)."


def test_environment_as_mapping(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\nenvironment:\n  A: "1"\n')
    assert e.message == "cog.yaml:4: environment: must be a list of NAME=value strings, not a mapping."
    assert e.hint and "- A=1" in e.hint


@pytest.mark.parametrize(
    ("run", "line", "fragment"),
    [
        ("run: echo hi", 3, "build.run: must be a list of commands, not a string."),
        ("run:\n    - 42", 4, "build.run[0]: must be a command string or a mapping {command, mounts}"),
        ("run:\n    - {mounts: []}", 4, "build.run[0].command: is missing."),
        ("run:\n    - {command: x, cmd: y}", 4, "build.run[0].cmd: unknown key"),
        (
            "run:\n    - {command: x, mounts: {type: secret}}",
            4,
            "build.run[0].mounts: must be a list of mounts",
        ),
        (
            "run:\n    - command: x\n      mounts:\n        - {type: cache, id: a, target: /a}",
            6,
            'build.run[0].mounts[0].type: "cache" is not supported; only secret mounts are.',
        ),
        (
            "run:\n    - command: x\n      mounts:\n        - {type: secret, target: /a}",
            6,
            "build.run[0].mounts[0].id: is missing.",
        ),
        (
            'run:\n    - command: x\n      mounts:\n        - {type: secret, id: a, target: " "}',
            6,
            "build.run[0].mounts[0].target: is an empty string.",
        ),
        (
            "run:\n    - command: x\n      mounts:\n        - {type: secret, id: a, target: /a, mode: 1}",
            6,
            "build.run[0].mounts[0].mode: unknown key",
        ),
    ],
)
def test_build_run_errors(project: Path, run: str, line: int, fragment: str) -> None:
    e = error(project, f'build:\n  python_version: "3.12"\n  {run}\n')
    assert e.message.startswith(f"cog.yaml:{line}: {fragment}"), e.message
    assert e.hint


def test_error_carries_structured_location(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\n  gpu: "yes"\n')
    assert e.file == str(project / "cog.yaml")
    assert e.line == 3
    assert e.key == "build.gpu"
    assert "hint:" in str(e)


def test_path_shown_relative_to_cwd(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project / "m" / "cog.yaml", "build:\n  python_version: 3.10\n")
    with pytest.raises(ConfigError) as info:
        load(file="m/cog.yaml")
    assert info.value.message.startswith("m/cog.yaml:2: build.python_version:")


# ------------------------------------------------------------------------------- requirements files


def req_config(project: Path, requirements: str, name: str = "requirements.txt") -> Config:
    write(project / name, requirements)
    return cfg(project, f'build:\n  python_version: "3.12"\n  python_requirements: {name}\n')


def req_error(project: Path, requirements: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        req_config(project, requirements)
    return info.value


def test_requirements_file_features(project: Path) -> None:
    (project / "wheels").mkdir()
    write(project / "more" / "extra.txt", "-r deeper.txt\nrequests==2.32.3\n")
    write(project / "more" / "deeper.txt", "# nothing but\nurllib3<3\n")
    c = req_config(
        project,
        """
        # a comment

        --index-url https://mirror.example/simple
        --extra-index-url=https://download.pytorch.org/whl/cu121
        -f ./wheels
        --find-links https://example.com/links/
        torch==2.3.1  # trailing comment
        numpy \\
            >=1.26 \\
            ; python_version >= "3.9"
        pillow==10.4.0 --hash=sha256:aaaa --hash sha256:bbbb
        -r more/extra.txt
        --pre
        """,
    )
    r = c.requirements
    assert r.file == "requirements.txt"
    assert r.lines == (
        "torch==2.3.1",
        'numpy >=1.26 ; python_version >= "3.9"',
        "pillow==10.4.0",
        "urllib3<3",
        "requests==2.32.3",
    )
    assert r.index_url == "https://mirror.example/simple"
    assert r.extra_index_urls == ("https://download.pytorch.org/whl/cu121",)
    assert r.find_links == (str(project / "wheels"), "https://example.com/links/")
    assert r.files == ("requirements.txt", "more/extra.txt", "more/deeper.txt")
    assert r.options == ("--pre",)
    inputs = canonical_inputs(c)
    assert inputs["find_links"] == ["wheels", "https://example.com/links/"]
    assert inputs["requirements"] == [
        'numpy>=1.26; python_version >= "3.9"',
        "pillow==10.4.0",
        "requests==2.32.3",
        "torch==2.3.1",
        "urllib3<3",
    ]


def test_short_index_option(project: Path) -> None:
    c = req_config(project, "-i https://mirror.example/simple\ntorch\n")
    assert c.requirements.index_url == "https://mirror.example/simple"


def test_requirements_invalid_line(project: Path) -> None:
    e = req_error(project, "torch==2.3.1\nnumpy===\n")
    assert e.message.startswith("requirements.txt:2: invalid requirement 'numpy==='")
    assert e.hint and "PEP 508" in e.hint
    assert e.line == 2


def test_requirements_invalid_in_included_file(project: Path) -> None:
    write(project / "sub" / "b.txt", "ok\n\nbad req !!\n")
    e = req_error(project, "-r sub/b.txt\n")
    assert e.message.startswith("sub/b.txt:3: invalid requirement")


def test_requirements_missing_include(project: Path) -> None:
    e = req_error(project, "torch\n-r nope.txt\n")
    assert e.message == "requirements.txt:2: -r nope.txt: no such file (nope.txt)."
    assert e.hint and "relative to the file that includes it" in e.hint


def test_requirements_include_loop(project: Path) -> None:
    write(project / "b.txt", "-r requirements.txt\n")
    e = req_error(project, "-r b.txt\n")
    assert "include each other in a loop (requirements.txt -> b.txt -> requirements.txt)" in e.message
    assert e.message.startswith("b.txt:1:")


@pytest.mark.parametrize("line", ["-e .", "--editable ./pkg", "-e git+https://github.com/x/y#egg=y"])
def test_requirements_editable(project: Path, line: str) -> None:
    e = req_error(project, f"torch\n{line}\n")
    assert e.message.startswith("requirements.txt:2: editable requirement")
    assert "not reproducible" in e.message
    assert e.hint and "--find-links ./wheels" in e.hint


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("./pkg", "no such file or folder"),
        ("../lib/x-1.0-py3-none-any.whl", "no such file or folder"),
        ("/abs/path", "no such file or folder"),
        ("file:///x/y.whl", "no such file or folder"),
        ("mypkg @ file:///x/y.whl", "no such file or folder"),
        ("dist/pkg.tar.gz", "no such file or folder"),
        ("./notes.txt", "is not a wheel, an sdist (.tar.gz, .zip) or a package folder"),
        ("./src", "is not a wheel, an sdist (.tar.gz, .zip) or a package folder"),
    ],
)
def test_requirements_local_paths_that_cannot_be_locked(project: Path, line: str, fragment: str) -> None:
    (project / "notes.txt").write_text("x")
    (project / "src").mkdir()
    e = req_error(project, f"{line}\n")
    assert e.message.startswith("requirements.txt:1: ")
    assert "local path" in e.message and fragment in e.message
    assert e.hint and "cog.lock hashes it" in e.hint


def test_requirements_local_artifacts_outside_the_project(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere") / "elsewhere-1.0-py3-none-any.whl"
    outside.write_bytes(b"x")
    e = req_error(project, f"{outside}\n")
    assert "is outside the project" in e.message


def test_requirements_local_artifacts_are_kept_project_relative(project: Path) -> None:
    """Cog installs local artifacts; cogpin locks them (issue 14): kept apart from the index lines."""
    (project / "dist").mkdir()
    (project / "dist" / "a-0.1.0.tar.gz").write_bytes(b"x")
    (project / "dist" / "b-1.0-py3-none-any.whl").write_bytes(b"x")
    (project / "pkgs" / "c").mkdir(parents=True)
    (project / "pkgs" / "c" / "pyproject.toml").write_text("[project]\nname='c'\n")
    (project / "requirements.txt").write_text(
        "./dist/a-0.1.0.tar.gz\ndist/b-1.0-py3-none-any.whl\n./pkgs/c\nb @ file://"
        + str(project / "dist" / "b-1.0-py3-none-any.whl")
        + "\nnumpy\n"
    )
    (project / "cog.yaml").write_text("build:\n  python_requirements: requirements.txt\n")
    c = load_config(project / "cog.yaml")
    assert c.requirements.lines == ("numpy",)
    assert c.requirements.local_artifacts == ("dist/a-0.1.0.tar.gz", "dist/b-1.0-py3-none-any.whl", "pkgs/c")


def test_requirements_bare_url(project: Path) -> None:
    e = req_error(project, "https://example.com/pkg-1.0-py3-none-any.whl\n")
    assert "has no package name" in e.message
    assert e.hint and "name @ URL" in e.hint


def test_requirements_url_with_name_is_accepted(project: Path) -> None:
    c = req_config(project, "pkg @ https://example.com/pkg-1.0-py3-none-any.whl\n")
    assert c.requirements.lines == ("pkg @ https://example.com/pkg-1.0-py3-none-any.whl",)


def test_requirements_unsupported_options(project: Path) -> None:
    e = req_error(project, "--use-pep517\n")
    assert e.message.startswith("requirements.txt:1: option --use-pep517 is not supported")
    e = req_error(project, "-c constraints.txt\n")
    assert "constraints files are not supported" in e.message
    e = req_error(project, 'pkg --config-settings="a=b"\n')
    assert "option --config-settings on a requirement line is not supported" in e.message


def test_requirements_two_index_urls(project: Path) -> None:
    e = req_error(project, "-i https://a/simple\n--index-url https://b/simple\n")
    assert e.message.startswith("requirements.txt:2: a second --index-url (https://b/simple)")
    assert "(requirements.txt:1)" in e.message


def test_requirements_option_needs_value(project: Path) -> None:
    e = req_error(project, "--extra-index-url\n")
    assert e.message == "requirements.txt:1: --extra-index-url needs a value."


def test_python_packages_errors_name_cog_yaml(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\n  python_packages:\n    - torch\n    - "-e ."\n')
    assert e.message.startswith("cog.yaml:5: build.python_packages[1]: editable requirement")
    e = error(project, 'build:\n  python_version: "3.12"\n  python_packages:\n    - "torch=2"\n')
    assert e.message.startswith("cog.yaml:4: build.python_packages[0]: invalid requirement 'torch=2'")
    e = error(project, 'build:\n  python_version: "3.12"\n  python_packages:\n    - "-r other.txt"\n')
    assert "-r is not allowed in python_packages" in e.message


# --------------------------------------------------------------------------------- derived views


def test_effective_json_shape(project: Path) -> None:
    c = cfg(
        project,
        """
        build:
          gpu: true
          python_version: "3.12"
          python_packages: ["torch==2.3.1"]
          pre_install: [echo pre]
          run:
            - command: echo secret
              mounts: [{type: secret, id: tok, target: /run/tok}]
          cuda: "12.1"
        run: "predict.py:Predictor"
        concurrency: {max: 2}
        environment: ["A=1"]
        """,
    )
    assert effective_json(c) == {
        "build": {
            "gpu": True,
            "python_version": "3.12",
            "python_packages": ["torch==2.3.1"],
            "system_packages": [],
            "run": [
                {"command": "echo pre"},
                {"command": "echo secret", "mounts": [{"type": "secret", "id": "tok", "target": "/run/tok"}]},
            ],
            "cuda": "12.1",
        },
        "predict": "predict.py:Predictor",
        "concurrency": {"max": 2},
        "environment": ["A=1"],
    }
    assert json.dumps(effective_json(c), sort_keys=True) == json.dumps(effective_json(c), sort_keys=True)


def test_effective_json_requirements_file(project: Path) -> None:
    c = req_config(project, "torch\n")
    out = effective_json(c)
    assert out["build"]["python_requirements"] == "requirements.txt"
    assert "python_packages" not in out["build"]
    assert "predict" not in out


ORIGINAL = """
build:
  gpu: true
  python_version: "3.12"
  python_requirements: requirements.txt
  system_packages:
    - libgl1
    - ffmpeg
  run:
    - echo hi
predict: "predict.py:Predictor"
environment:
  - A=1
"""

REFORMATTED = """
# reformatted, reordered, commented
predict: predict.py:Predictor   # same ref, no quotes
environment: ['A=1']
build:
  run: ["echo hi"]
  system_packages: [ffmpeg, libgl1, ffmpeg]
  python_requirements: "requirements.txt"
  python_version: '3.12'
  gpu: yes
"""


def test_canonical_inputs_invariant_under_formatting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    results = []
    for name, yaml_text, reqs in [
        ("a", ORIGINAL, "torch==2.3.1\nPillow>=10,<11\n"),
        ("b", REFORMATTED, "# comment\n\npillow <11, >=10   # image io\nTorch == 2.3.1\ntorch==2.3.1\n"),
    ]:
        folder = tmp_path / name
        (folder).mkdir()
        (folder / "predict.py").write_text("")
        write(folder / "requirements.txt", reqs)
        results.append(canonical_inputs(load_config(write(folder / "cog.yaml", yaml_text))))
    assert results[0] == results[1]
    assert results[0]["requirements"] == ["pillow<11,>=10", "torch==2.3.1"]
    assert results[0]["system_packages"] == ["ffmpeg", "libgl1"]
    assert json.dumps(results[0], sort_keys=True)  # JSON-serialisable for hashing


def test_canonical_inputs_change_with_content(project: Path) -> None:
    write(project / "requirements.txt", "torch==2.3.1\n")
    base = canonical_inputs(cfg(project, ORIGINAL))
    write(project / "requirements.txt", "torch==2.3.0\n")
    assert canonical_inputs(cfg(project, ORIGINAL))["requirements"] == ["torch==2.3.0"]
    changed = canonical_inputs(cfg(project, ORIGINAL.replace('"3.12"', '"3.11"')))
    assert changed["python_version"] == "3.11" != base["python_version"]


def test_canonical_inputs_keys_and_defaults(project: Path) -> None:
    c = cfg(
        project,
        'build:\n  python_version: "3.12"\n  python_packages: ["Torch[OPT] >= 2 ; sys_platform == \'linux\'"]\n',
    )
    assert canonical_inputs(c) == {
        "python_version": "3.12",
        "gpu": False,
        "cuda": "",
        "cudnn": "",
        "requirements": ['torch[opt]>=2; sys_platform == "linux"'],
        "index_url": "",
        "extra_index_urls": [],
        "find_links": [],
        "options": [],
        "system_packages": [],
        "run": [],
        "environment": [],
        "predict": "",
        "train": "",
    }


@pytest.mark.parametrize(
    ("line", "canonical"),
    [
        ("Torch == 2.3.1", "torch==2.3.1"),
        ("my_pkg.Name>=1,<2", "my-pkg-name<2,>=1"),
        ("a[Y,x]", "a[x,y]"),
        (
            "pkg @ https://e.com/p.whl ; python_version<'3.12'",
            'pkg @ https://e.com/p.whl ; python_version < "3.12"',
        ),
    ],
)
def test_canonical_requirement(line: str, canonical: str) -> None:
    assert canonical_requirement(line) == canonical


def test_canonical_inputs_drop_url_credentials(project: Path) -> None:
    c = req_config(
        project,
        "--index-url https://user:s3cret@pypi.corp/simple\n"
        "--extra-index-url https://${TOKEN}@extra.corp/simple\n"
        "-f https://tok@links.corp/wheels/\n"
        "torch\n",
    )
    assert c.requirements.index_url == "https://user:s3cret@pypi.corp/simple"  # the resolver needs them
    inputs = canonical_inputs(c)
    assert inputs["index_url"] == "https://pypi.corp/simple"
    assert inputs["extra_index_urls"] == ["https://extra.corp/simple"]
    assert inputs["find_links"] == ["https://links.corp/wheels/"]
    assert "s3cret" not in json.dumps(inputs)


def test_requirements_bom_and_continuation_concatenate_like_pip(project: Path) -> None:
    c = req_config(project, "\ufefftorch==2.3.\\\n1\nnumpy\n")
    assert c.requirements.lines == ("torch==2.3.1", "numpy")


def test_requirements_comment_hash_without_space_is_not_a_comment(project: Path) -> None:
    c = req_config(project, "pkg @ https://e.com/pkg-1.0.tar.gz#sha256=abc  # comment\n")
    assert c.requirements.lines == ("pkg @ https://e.com/pkg-1.0.tar.gz#sha256=abc",)


def test_unknown_number_key_is_shown_as_written(project: Path) -> None:
    e = error(project, 'build:\n  python_version: "3.12"\n3.10: x\n')
    assert e.message == "cog.yaml:3: 3.10: unknown key (Cog rejects it too)."
