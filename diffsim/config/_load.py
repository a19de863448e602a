"""Reading, overriding and writing run configs, with one-line errors that name the key path."""

import copy
from pathlib import Path

import pydantic
import yaml

from ._run_config import RUN_CONFIG, RunConfig


class ConfigError(ValueError):
    """The config file or an override is unusable; the message names the file or key path.

    **Example:** one line naming the key path, never a traceback.

    ```python
    import diffsim

    try:
        diffsim.config.validate_config({
            "model": "lotka_volterra",
            "observations": {"x": {"sigma": 0.1}},
            "data": {"file": "measured.csv"},
            "solver": {"rtol": -1},
        })
    except diffsim.config.ConfigError as error:
        assert "solver.rtol" in str(error)
        print(error)
    else:
        raise AssertionError("a negative tolerance was accepted")
    ```
    """


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML keeps the last)."""


def _unique_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


MAX_CONFIG_BYTES = 2**20 * 10
"""Largest config file read (a config names its data files; it does not hold data)."""
MAX_DEPTH = 100
"""Most levels of nested mappings and lists in a config."""
MAX_NODES = 100_000
"""Most YAML nodes a document may expand to, aliases counted at every use (an "alias bomb"
of a few lines expands to billions)."""


def _expanded_size(node, sizes: dict, open_: set) -> int:
    """The number of nodes `node` stands for once every alias is expanded (memoized per node)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise yaml.composer.ComposerError(
            None, None, "an alias refers to a node that contains it", node.start_mark
        )
    open_.add(key)
    size = 1
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    else:
        children = node.value if isinstance(node, yaml.SequenceNode) else []
    for child in children:
        size += _expanded_size(child, sizes, open_)
        if size > MAX_NODES:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"aliases expand to more than {MAX_NODES} values (an alias bomb?)",
                node.start_mark,
            )
    open_.discard(key)
    sizes[key] = size
    return size


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than `MAX_DEPTH`, from the parser's events (no recursion), so
    that a deeply nested document fails at once instead of deep inside the composer."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load_yaml(text: str):
    """Parse YAML text with the safe loader, refusing duplicate keys and alias bombs.

    A document whose aliases expand to more than `MAX_NODES` values is refused before it is
    built, so a few lines cannot expand to gigabytes.

    **Raises:** `yaml.YAMLError` (with the line and column of the problem).

    **Example:** a key given twice is an error (plain YAML would keep the last silently).

    ```python
    import yaml

    from diffsim import config

    assert config.load_yaml("a: 1") == {"a": 1}
    try:
        config.load_yaml('''
    a: 1
    a: 2
    ''')
    except yaml.YAMLError as error:
        print(error)
    else:
        raise AssertionError("a duplicate key was accepted")
    ```
    """
    _check_depth(text)
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set())
        return loader.construct_document(node)
    except RecursionError:
        raise yaml.YAMLError("the document is nested too deeply") from None
    finally:
        loader.dispose()


def format_validation_error(error: pydantic.ValidationError) -> str:
    """One line for the first problem pydantic found: `key.path: message (got ...)`."""
    first = error.errors()[0]
    parts = [str(part) for part in first["loc"] if not str(part).startswith("function-")]
    if parts and parts[0] in ("ode", "pde"):  # the tag of the model kind
        parts = parts[1:]
    path = ".".join(parts)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    if not path and message.split(":", 1)[0].replace(".", "").replace("_", "").isalnum():
        return message  # a whole-config check names its own key path; the input is the config
    text = f"{path or 'config'}: {message}"
    if first["type"] not in ("missing",) and "input" in first:
        shown = repr(first["input"])
        text += f" (got {shown[:60]}{'...' if len(shown) > 60 else ''})"
    more = len(error.errors()) - 1
    return text + (f" [and {more} more problem{'s' * (more > 1)}]" if more else "")


def parse_override(text: str) -> tuple[list[str], object]:
    """Split `key.path=value` into the key path and the value parsed as a YAML scalar."""
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(parts):
        raise ConfigError(f"--set {text!r}: expected key.path=value")
    try:
        value = load_yaml(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return parts, value


def apply_override(data: dict, parts: list[str], value) -> None:
    """Set `data[parts[0]][parts[1]]... = value`, creating nested mappings as needed."""
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(f"--set {'.'.join(parts)}: {where} is not a mapping")
        node = child
    node[parts[-1]] = value


def read_config_data(path: str | Path) -> dict:
    """Read a YAML config file into a mapping.

    **Raises:** `ConfigError` naming the file when it is missing, unreadable, empty, not YAML
    (with line and column), or not a mapping at the top level.

    **Example:**

    ```python
    import pathlib
    import tempfile

    from diffsim import config

    folder = pathlib.Path(tempfile.mkdtemp())
    (folder / "run.yaml").write_text("model: sir")
    assert config.read_config_data(folder / "run.yaml") == {"model": "sir"}
    try:
        config.read_config_data(folder / "missing.yaml")
    except config.ConfigError as error:
        assert "missing.yaml" in str(error)
    ```
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: the config file has {size / 2**20:.0f} MiB, more than "
            f"{MAX_CONFIG_BYTES // 2**20} MiB (put measurements in a data file: data.file)"
        )
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the config file ({error})") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error) or "invalid YAML"
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}") from None
    if data is None:
        raise ConfigError(f"{path}: the config file is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return data


def validate_config(data: dict, overrides: list[str] = ()) -> RunConfig:
    """Apply `key.path=value` overrides to `data` and validate it as a `RunConfig`.

    **Raises:** `ConfigError` with one line naming the key path of the first problem.

    **Example:** overrides are applied before validation, with YAML-typed values.

    ```python
    import diffsim

    data = {"model": "sir", "observations": {"I": {"sigma": 5.0}}, "data": {"file": "flu.csv"}}
    config = diffsim.config.validate_config(data, ["solver.name=stiff", "fit.max_steps=20"])
    assert config.solver.name == "stiff" and config.fit.max_steps == 20
    assert "solver" not in data  # the mapping given is left unchanged
    ```
    """
    data = copy.deepcopy(data)  # keeps the user's key order (equations give the state order)
    for text in overrides:
        apply_override(data, *parse_override(text))
    try:
        return RUN_CONFIG.validate_python(data)
    except pydantic.ValidationError as error:
        raise ConfigError(format_validation_error(error)) from None


def load_config(path: str | Path, overrides: list[str] = ()) -> RunConfig:
    """Read, override and validate a config file (see `read_config_data`, `validate_config`).

    **Example:** a file, with an override as `--set` gives it on the command line.

    ```python
    import pathlib
    import tempfile

    import diffsim

    path = pathlib.Path(tempfile.mkdtemp()) / "lv.yaml"
    path.write_text('''
    model: lotka_volterra
    observations: {x: {sigma: 0.1}}
    data: {file: measured.csv}
    fit: {max_steps: 50}
    ''')
    config = diffsim.load_config(path, ["fit.max_steps=10"])
    assert config.fit.max_steps == 10 and config.model.builtin == "lotka_volterra"
    ```
    """
    return validate_config(read_config_data(path), overrides)


def dump_config(config: RunConfig) -> str:
    """The config as YAML with every default filled in (rerunnable as is).

    **Example:** every default written out, and the result reads back the same.

    ```python
    import diffsim

    config = diffsim.config.validate_config({
        "model": "lotka_volterra",
        "observations": {"x": {"sigma": 0.1}},
        "data": {"file": "measured.csv"},
    })
    text = diffsim.config.dump_config(config)
    assert "max_steps" in text and "rtol" in text  # defaults filled in
    assert diffsim.config.validate_config(diffsim.config.load_yaml(text)) == config
    ```
    """
    return yaml.safe_dump(
        RUN_CONFIG.dump_python(config, mode="json", exclude_none=True), sort_keys=False
    )
