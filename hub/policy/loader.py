"""Read agreements from policies/ and report every problem as ``file:line: field: message``.

Operators edit these files by hand, usually under review: an error they cannot
place in the file is an error they will fix by guessing. So validation errors
are mapped back to the YAML node they came from, and a directory is checked in
full before anything is refused, so one run lists every problem.

The YAML dialect is narrowed on purpose: dates stay strings (the model insists
on "YYYY-MM-DD"), and only true/false are booleans, so Norway's ``NO`` is a
country rather than ``False``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from counterflow.errors import PolicyError
from hub.policy.models import Agreement

POLICY_SUFFIXES = (".yaml", ".yml")
_BOOL_TAG = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _PolicyLoader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's timestamp and yes/no/on/off booleans."""


_PolicyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PolicyLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one file; `field` is empty when the whole file is at fault."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        field = f"{self.field}: " if self.field else ""
        return f"{self.file}:{self.line}: {field}{self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message}


class PolicySet:
    """The agreements in force, by partner id; immutable so readers need no lock."""

    def __init__(self, agreements: Iterable[Agreement] = ()) -> None:
        by_id: dict[str, Agreement] = {}
        for agreement in agreements:
            if agreement.partner_id in by_id:
                raise PolicyError(f"two agreements for partner {agreement.partner_id}")
            by_id[agreement.partner_id] = agreement
        self._by_id = dict(sorted(by_id.items()))

    def get(self, partner_id: str) -> Agreement | None:
        return self._by_id.get(partner_id)

    @property
    def partner_ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def __iter__(self) -> Iterator[Agreement]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, partner_id: object) -> bool:
        return partner_id in self._by_id


@dataclass(frozen=True)
class PolicyReport:
    """What a directory holds: the agreements that validated and every problem found."""

    policies: PolicySet
    problems: tuple[Problem, ...]


def policy_files(directory: Path) -> list[Path]:
    """The files that count as agreements; others (README, _drafts, .locks) are ignored."""
    return sorted(
        path
        for path in directory.iterdir()
        if path.suffix in POLICY_SUFFIXES and path.name[0] not in "._" and path.is_file()
    )


def load_policy(path: Path) -> Agreement:
    parsed = _read(path)
    if parsed.agreement is None:
        raise _error(f"{len(parsed.problems)} problem(s) in {path}", parsed.problems)
    return parsed.agreement


def load_policies(directory: Path) -> PolicySet:
    report = check_policies(directory)
    if report.problems:
        count = len(report.problems)
        raise _error(f"{count} problem(s) in the policies in {directory}", report.problems)
    return report.policies


def check_policies(directory: Path) -> PolicyReport:
    """Read every policy file in ``directory``; raises only if the directory is unusable."""
    if not directory.is_dir():
        raise PolicyError(f"policy directory not found: {directory}")
    try:
        paths = policy_files(directory)
    except OSError as exc:
        raise PolicyError(f"cannot list policy directory {directory}: {exc.strerror}") from None
    agreements: dict[str, tuple[Agreement, Path]] = {}
    problems: list[Problem] = []
    for path in paths:
        parsed = _read(path)
        problems.extend(parsed.problems)
        if parsed.agreement is None:
            continue
        first = agreements.get(parsed.agreement.partner_id)
        if first is not None:
            line = _line_of(parsed.root, ("partner_id",))
            partner_id = parsed.agreement.partner_id
            message = f"{partner_id!r} already has an agreement in {first[1]}"
            problems.append(Problem(str(path), line, "partner_id", message))
            continue
        agreements[parsed.agreement.partner_id] = (parsed.agreement, path)
    policies = PolicySet(agreement for agreement, _ in agreements.values())
    return PolicyReport(policies, tuple(problems))


def _error(message: str, problems: Sequence[Problem]) -> PolicyError:
    error = PolicyError(message, problems=[str(p) for p in problems])
    # Printed by the CLI's exits_on_error, one line per problem.
    error.violations = [(f"{p.file}:{p.line}", f"{p.field}: {p.message}") for p in problems]
    return error


@dataclass
class _Parsed:
    agreement: Agreement | None
    problems: list[Problem]
    root: yaml.Node | None


def _read(path: Path) -> _Parsed:
    name = str(path)
    text = _read_text(path)
    if isinstance(text, Problem):
        return _Parsed(None, [text], None)
    try:
        root, data = _parse(text)
    except (yaml.YAMLError, ValueError) as exc:
        return _Parsed(None, [_yaml_problem(name, exc)], None)
    if root is None:
        return _Parsed(None, [Problem(name, 1, "", "file is empty; expected an agreement")], root)
    problems = _duplicate_keys(name, root, ())
    problems.extend(_stem_problems(path, root, data))
    agreement: Agreement | None = None
    try:
        agreement = Agreement.model_validate(data)
    except ValidationError as exc:
        problems.extend(_validation_problem(name, root, err) for err in exc.errors())
    problems.sort(key=lambda problem: problem.line)
    return _Parsed(None if problems else agreement, problems, root)


def _read_text(path: Path) -> str | Problem:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return Problem(str(path), 1, "", f"cannot read: {exc.strerror}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Problem(str(path), raw[: exc.start].count(b"\n") + 1, "", "not UTF-8 text")


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    loader = _PolicyLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return root, data


def _yaml_problem(name: str, exc: yaml.YAMLError | ValueError) -> Problem:
    if not isinstance(exc, yaml.MarkedYAMLError):
        return Problem(name, 1, "", f"YAML error: {exc}")
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 1
    message = f"YAML syntax: {exc.problem or 'invalid'}"
    if exc.context:
        where = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
        message += f" ({exc.context}{where})"
    return Problem(name, line, "", message)


def _stem_problems(path: Path, root: yaml.Node, data: Any) -> list[Problem]:
    partner_id = data.get("partner_id") if isinstance(data, dict) else None
    if not isinstance(partner_id, str) or partner_id == path.stem:
        return []
    message = f"{partner_id!r} does not match the file name; expected {path.stem!r}"
    return [Problem(str(path), _line_of(root, ("partner_id",)), "partner_id", message)]


def _duplicate_keys(name: str, node: yaml.Node, path: tuple[str | int, ...]) -> list[Problem]:
    """PyYAML keeps the last of two equal keys; in an agreement that hides an edit."""
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key, value in node.value:
            key_text = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            line = key.start_mark.line + 1
            if key_text in first_line:
                message = f"duplicate key (first at line {first_line[key_text]})"
                problems.append(Problem(name, line, _dotted((*path, key_text)), message))
            else:
                first_line[key_text] = line
            problems.extend(_duplicate_keys(name, value, (*path, key_text)))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems.extend(_duplicate_keys(name, item, (*path, index)))
    return problems


def _validation_problem(name: str, root: yaml.Node, err: ErrorDetails) -> Problem:
    loc = tuple(err["loc"])
    message = err["msg"]
    kind = err["type"]
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "bool_type":
        message = "expected true or false"
    elif kind == "extra_forbidden":
        message = "unknown key" + _expected_keys(loc[:-1])
    elif kind == "model_type" and not loc:
        message = "expected a mapping of agreement fields"
    return Problem(name, _line_of(root, loc), _dotted(loc), message)


def _expected_keys(loc: tuple[str | int, ...]) -> str:
    model: type[BaseModel] = Agreement
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation
    return "; expected one of: " + ", ".join(model.model_fields)


def _line_of(root: yaml.Node | None, loc: tuple[str | int, ...]) -> int:
    """1-based line of the node at ``loc``, or of its nearest ancestor that exists."""
    if root is None:
        return 1
    node, line = root, root.start_mark.line
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            entry = _entry(node, part)
            if entry is None:
                break
            line, node = entry[0].start_mark.line, entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line
        else:
            break
    return line + 1


def _entry(node: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    found = None
    for key_node, value_node in node.value:  # the last one wins, as when constructing
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            found = (key_node, value_node)
    return found


def _dotted(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
