"""YAML <-> Scenario, with errors that name the file and the field.

:func:`load_scenario` never raises anything but :class:`ScenarioError` for bad
input; its ``problems`` are one line each, ready to print.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sim.config import Scenario, reference_errors


class ScenarioError(Exception):
    """Bad scenario input.  ``problems`` holds one printable line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


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


def read_yaml(path: Path | str) -> dict:
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
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ScenarioError([f"{path}: YAML syntax error: {where}{problem}"]) from None
    if data is None:
        raise ScenarioError([f"{path}: empty file (expected a scenario mapping)"])
    if not isinstance(data, dict):
        raise ScenarioError([f"{path}: (top level): expected a mapping, found {type(data).__name__}"])
    return data


def validate(data: Any, source: str) -> Scenario:
    """Validate a mapping; every problem becomes one line ``source: field: message``."""
    try:
        scenario = Scenario.model_validate(data, context={"defer_references": True})
    except ValidationError as e:
        lines = []
        for err in e.errors(include_url=False):
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            lines.append(f"{source}: {field_path(_without_tags(err['loc'], data))}: {msg}")
        raise ScenarioError(lines) from None
    problems = reference_errors(scenario)
    if problems:
        raise ScenarioError([f"{source}: {path}: {msg}" for path, msg in problems])
    return scenario


def load_scenario(path: Path | str, overrides: dict[str, Any] | None = None) -> Scenario:
    data = read_yaml(path)
    if overrides:
        data = apply_overrides(data, overrides, str(path))
    return validate(data, str(path))


def apply_overrides(data: dict, overrides: dict[str, Any], source: str) -> dict:
    """Set dotted paths (``device_groups.0.count``) in a copy of ``data``.  A whole list item
    one past the end (``servers.2`` on a list of two) is appended."""
    data = copy.deepcopy(data)
    for dotted, value in overrides.items():
        node: Any = data
        parts = dotted.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if part.isdigit() and int(part) == len(node) and last:
                    node.append(None)  # appended, set below
                if not part.isdigit() or int(part) >= len(node):
                    raise ScenarioError([f"{source}: {dotted}: no list item {part!r}"])
                key: Any = int(part)
            elif isinstance(node, dict):
                key = part
                if not last and key not in node:
                    node[key] = {}
            else:
                raise ScenarioError([f"{source}: {dotted}: {'.'.join(parts[:i])} is not a mapping or list"])
            if last:
                node[key] = value
            else:
                node = node[key]
    return data


def canonical_json(scenario: Scenario) -> str:
    return json.dumps(scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def scenario_sha256(scenario: Scenario) -> str:
    return hashlib.sha256(canonical_json(scenario).encode()).hexdigest()


def json_schema() -> dict:
    return Scenario.model_json_schema()
