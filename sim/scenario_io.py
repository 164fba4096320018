"""YAML <-> Scenario, with errors that name the file, the line and the field.

:func:`load_scenario` never raises anything but :class:`ScenarioError` for bad
input; its ``problems`` are one line each, ready to print:
``FILE:LINE:COLUMN: field.path: message``, the line and column of the value at fault
(of its key for an unknown field), found in the composed YAML node tree, which PyYAML
keeps with every node's position.  A value an override set (``--seed``, ``--mode``, the
API's overrides) has no line in the file: ``FILE: field.path: message``
(:func:`sim.sweeps.load_sweep` names the sweep file's line for the values a sweep sets).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml
from pydantic import BaseModel, ValidationError

from sim.config import Scenario, reference_errors
from sim.errors import ScenarioError  # noqa: F401  (defined with the other errors; importable from here too)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that rejects a mapping with the same key twice and keys that are not
    scalars; merge keys (``<<: *base``) work, and a key they bring in may be overridden."""


MAX_YAML_BYTES = 10_000_000
MAX_YAML_DEPTH = 100
MAX_YAML_NODES = 1_000_000  # after alias expansion: an alias bomb is refused before it is built


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a plain value",
                                                    key_node.start_mark)
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


def _depth(node, limit: int) -> None:
    """Refuse nesting deeper than ``limit`` (iteratively: a deep document cannot exhaust the stack)."""
    stack, visited = [(node, 1)], 0
    while stack:
        n, d = stack.pop()
        visited += 1
        if visited > MAX_YAML_NODES:
            raise yaml.constructor.ConstructorError(None, None, f"more than {MAX_YAML_NODES:,} values once aliases "
                                                    "are expanded", n.start_mark)
        if d > limit:
            raise yaml.constructor.ConstructorError(None, None, f"nested deeper than {limit} levels", n.start_mark)
        if isinstance(n, yaml.MappingNode):
            stack += [(v, d + 1) for _, v in n.value] + [(k, d + 1) for k, _ in n.value]
        elif isinstance(n, yaml.SequenceNode):
            stack += [(v, d + 1) for v in n.value]


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def field_path(loc: tuple) -> str:
    """('device_groups', 0, 'count') -> 'device_groups[0].count'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _without_tags(loc: tuple, data: Any) -> tuple:
    """``loc`` without the tags pydantic adds for a tagged union (``policies.routing.meanet.x``
    is the field ``policies.routing.x`` of a policy whose ``kind`` is ``meanet``)."""
    out, node = [], data
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part not in node and node.get("kind") == part:
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


Loc = tuple  # a field's place in the data: ('device_groups', 0, 'count')
_MERGE = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Document:
    """A YAML file's mapping and its node tree, in which every value knows its line and column."""

    path: Path
    data: dict
    root: yaml.Node

    def where(self, loc: Loc, key: bool = False) -> tuple[int, int]:
        """The line and column (from 1) of the value at ``loc``: of its key when ``key`` or
        when the value is a block (a mapping or list under its key); of the deepest enclosing
        value that exists when ``loc`` does not (a missing field: the mapping that lacks it)."""
        return _where(self.root, loc, key)


def _where(node: yaml.Node, loc: Loc, key: bool = False) -> tuple[int, int]:
    mark = node.start_mark
    for i, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            # merge keys were flattened into node.value when it was constructed; the last of
            # a key's entries is the one the data holds (a key may override a merged one)
            hits = [(k, v) for k, v in node.value
                    if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE and k.value == str(part)]
            if not hits:
                break
            k, node = hits[-1]
            last = i == len(loc) - 1
            mark = k.start_mark if (key and last) or not isinstance(node, yaml.ScalarNode) else node.start_mark
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            mark = node.start_mark
        else:
            break
    return mark.line + 1, mark.column + 1


Where = Callable[[Loc, bool], "tuple[int, int] | None"]


def under(loc: Loc, dotted: str) -> bool:
    """Whether ``loc`` is at or below the dotted override path ``dotted``."""
    parts = dotted.split(".")
    return [str(p) for p in loc[:len(parts)]] == parts


def locator(doc: Document, overrides: dict[str, Any] | None = None) -> Where:
    """``doc.where``, except for values an override set: they have no line (None)."""
    def where(loc: Loc, key: bool = False) -> tuple[int, int] | None:
        if any(under(loc, dotted) for dotted in overrides or ()):
            return None
        return doc.where(loc, key)
    return where


def at(source: str, place: tuple[int, int] | None) -> str:
    """``FILE:LINE:COLUMN`` (``FILE`` when there is no line): the start of every problem line."""
    return f"{source}:{place[0]}:{place[1]}" if place else str(source)


def read_yaml(path: Path | str) -> dict:
    return read_document(path).data


def read_document(path: Path | str) -> Document:
    """The YAML mapping in ``path`` with its node tree; bad input raises ScenarioError (one line)."""
    path = Path(path)
    if not path.exists():
        raise ScenarioError([f"{path}: no such file"])
    if not path.is_file():
        raise ScenarioError([f"{path}: not a file"])
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError([f"{path}: cannot read: {e}"]) from None
    if len(text) > MAX_YAML_BYTES:
        raise ScenarioError([f"{path}: {len(text):,} bytes (at most {MAX_YAML_BYTES:,})"])
    try:
        loader = _UniqueKeyLoader(text)
        try:
            root = loader.get_single_node()
            if root is not None:
                _depth(root, MAX_YAML_DEPTH)
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except RecursionError:
        raise ScenarioError([f"{path}: YAML nested too deeply"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ScenarioError([f"{at(str(path), (mark.line + 1, mark.column + 1) if mark else None)}: "
                             f"YAML syntax error: {problem}"]) from None
    if data is None:
        raise ScenarioError([f"{path}: empty file (expected a scenario mapping)"])
    if not isinstance(data, dict):
        raise ScenarioError([f"{at(str(path), _where(root, ()))}: (top level): expected a mapping, "
                             f"found {type(data).__name__}"])
    return Document(path, data, root)


@dataclass(frozen=True)
class Problem:
    """One problem of a mapping: the field's place (``loc``), its path as printed, the
    message, and whether the key itself is at fault (an unknown field) rather than its value."""

    loc: Loc
    path: str
    message: str
    key: bool = False

    def line(self, source: str, where: Where | None = None) -> str:
        """``FILE:LINE:COLUMN: field.path: message``, or ``FILE: field.path: message`` without a line."""
        return f"{at(source, where(self.loc, self.key) if where else None)}: {self.path}: {self.message}"


def _loc_of(path: str) -> Loc:
    """'links[0].between[1]' -> ('links', 0, 'between', 1)."""
    return tuple(int(i) if i else name for name, i in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path))


def model_problems(model: type[BaseModel], data: Any, **kwargs) -> tuple[Any, list[Problem]]:
    """``model`` validated from ``data`` (None when it is not valid) and its problems."""
    try:
        return model.model_validate(data, **kwargs), []
    except ValidationError as e:
        out = []
        for err in e.errors(include_url=False):
            loc = _without_tags(err["loc"], data)
            unknown = err["type"] == "extra_forbidden"
            msg = "unknown field" if unknown else err["msg"].removeprefix("Value error, ")
            out.append(Problem(loc, field_path(loc), msg, key=unknown))
        return None, out


def scenario_problems(data: Any) -> tuple[Scenario | None, list[Problem]]:
    """The scenario in ``data`` (None when it is not valid) and every problem of it: the
    schema's, then the cross-references' (:func:`sim.config.reference_errors`)."""
    scenario, problems = model_problems(Scenario, data, context={"defer_references": True})
    if scenario is None:
        return None, problems
    problems = [Problem(_loc_of(path), path, msg) for path, msg in reference_errors(scenario)]
    return (None if problems else scenario), problems


def validate(data: Any, source: str, where: Where | None = None) -> Scenario:
    """Validate a mapping; every problem becomes one line ``source:LINE:COLUMN: field: message``
    (``source: field: message`` where ``where`` gives no line: no file, or an override)."""
    scenario, problems = scenario_problems(data)
    if problems:
        raise ScenarioError([p.line(source, where) for p in problems])
    return scenario


def load_scenario(path: Path | str, overrides: dict[str, Any] | None = None) -> Scenario:
    doc = read_document(path)
    data = apply_overrides(doc.data, overrides, str(path)) if overrides else doc.data
    return validate(data, str(path), locator(doc, overrides))


def apply_overrides(data: dict, overrides: dict[str, Any], source: str) -> dict:
    """Set dotted paths (``device_groups.0.count``) in a copy of ``data``.  A whole list item
    one past the end (``servers.2`` on a list of two) is appended."""
    data = copy.deepcopy(data)
    for dotted, value in overrides.items():
        problem = set_path(data, dotted, value)
        if problem:
            raise ScenarioError([f"{source}: {dotted}: {problem}"])
    return data


def set_path(data: dict, dotted: str, value: Any) -> str | None:
    """Set one dotted path in ``data`` (in place); the problem when it cannot be set."""
    node: Any = data
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if part.isdigit() and int(part) == len(node) and last:
                node.append(None)  # appended, set below
            if not part.isdigit() or int(part) >= len(node):
                return f"no list item {part!r}"
            key: Any = int(part)
        elif isinstance(node, dict):
            key = part
            if not last and key not in node:
                node[key] = {}
        else:
            return f"{'.'.join(parts[:i])} is not a mapping or list"
        if last:
            node[key] = copy.deepcopy(value)  # a later override of a path inside it leaves the caller's value alone
        else:
            node = node[key]
    return None


def canonical_json(scenario: Scenario) -> str:
    return json.dumps(scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def scenario_sha256(scenario: Scenario) -> str:
    return hashlib.sha256(canonical_json(scenario).encode()).hexdigest()


def json_schema() -> dict:
    return Scenario.model_json_schema()


SOURCE_ATTR = "__sim_source__"  # where a scenario was read from (its traces are relative to its folder)


def source_of(scenario: Scenario) -> Path | None:
    """The file a scenario was loaded from (through :func:`sim.pipeline.load`), if it was."""
    return getattr(scenario, SOURCE_ATTR, None)


def mark_source(scenario: Scenario, path: Path | None) -> Scenario:
    if path is not None:
        object.__setattr__(scenario, SOURCE_ATTR, Path(path).resolve())
    return scenario


def with_(scenario: Scenario, overrides: dict[str, Any] | None = None, **fields: Any) -> Scenario:
    """A copy of ``scenario`` with dotted-path ``overrides`` (``{"device_groups.0.count": 5}``)
    and top-level ``fields`` (``horizon_s=60``) changed, validated again (unlike pydantic's
    ``model_copy``, which does not validate); it keeps the file it came from."""
    src = source_of(scenario)
    where = str(src or scenario.name)
    data = apply_overrides(scenario.model_dump(mode="json", exclude_unset=True), {**(overrides or {}), **fields}, where)
    return mark_source(validate(data, where), src)
