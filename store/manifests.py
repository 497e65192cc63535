"""Manifests: multi-document YAML in and out, validated, with every error at its file:line:col.

`load` reads YAML the way kubectl does (YAML 1.1: ``yes`` is a boolean, ``0755`` an octal number),
keeping the position of every node. Each document is checked three ways and every error is collected, not
just the first: built-in kinds against the official OpenAPI schemas (kubernetes-validate, strict, so
unknown fields are errors), every kind by converting it to its class, and then the apiserver's own
validation rules (`store.strategy`). A file with one bad document is rejected whole: `InvalidManifest`
lists each error as ``file:line:col: <path>: <message>``. `dump` writes objects back as YAML.

Loading never touches a store; applying the loaded objects is the caller's business.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import jsonschema
from kubernetes_validate import utils
from referencing import Registry, Resource
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from store import strategy
from store.errors import Invalid
from store.models import GenericObject, Model, Object
from store.scheme import KindInfo, Scheme, wire_name
from store.validation import FieldError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@attrs.frozen
class ManifestError:
    """One problem in a manifest, at a position in a file."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class InvalidManifest(ValueError):
    """A manifest set was rejected; ``errors`` holds every problem found, in file order."""

    def __init__(self, errors: Sequence[ManifestError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


@attrs.frozen
class Document:
    """A loaded object and where it came from."""

    object: Object
    file: str
    line: int
    index: int


def load(text: str, *, filename: str = "<string>", scheme: Scheme | None = None) -> list[Object]:
    """The objects of a multi-document YAML (or JSON) text; raises `InvalidManifest`."""
    return [document.object for document in load_documents(text, filename=filename, scheme=scheme)]


def load_file(path: str | Path, *, scheme: Scheme | None = None) -> list[Object]:
    """The objects of one manifest file; raises `InvalidManifest`."""
    return load_paths([path], scheme=scheme)


def load_paths(paths: Iterable[str | Path], *, scheme: Scheme | None = None) -> list[Object]:
    """The objects of files and folders (``*.yaml``, ``*.yml``, ``*.json``, sorted by name).

    Every file is checked before anything is returned, so one bad document anywhere rejects them all.
    """
    errors: list[ManifestError] = []
    objects: list[Object] = []
    for file in _manifest_files(paths, errors):
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(ManifestError(str(file), 1, 1, "", f"cannot read file: {exc}"))
            continue
        try:
            objects.extend(load(text, filename=str(file), scheme=scheme))
        except InvalidManifest as invalid:
            errors.extend(invalid.errors)
    if errors:
        raise InvalidManifest(errors)
    return objects


def _manifest_files(paths: Iterable[str | Path], errors: list[ManifestError]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in MANIFEST_SUFFIXES)
        elif path.exists():
            yield path
        else:
            errors.append(ManifestError(str(path), 1, 1, "", "no such file or directory"))


def load_documents(text: str, *, filename: str = "<string>", scheme: Scheme | None = None) -> list[Document]:
    """Like `load`, keeping each object's file and line."""
    scheme = scheme or _default_scheme()
    source = _Source(filename, text)
    nodes = read_yaml(text, filename=filename)
    documents: list[Document] = []
    errors: list[ManifestError] = []
    for index, node in enumerate(nodes):
        obj, problems = _load_document(node, scheme, source)
        errors.extend(sorted(problems, key=lambda e: (e.line, e.column)))
        if obj is not None and not problems:
            documents.append(Document(obj, filename, _line_of(node) + 1, index))
    if errors:
        raise InvalidManifest(errors)
    return documents


def read_yaml(text: str, *, filename: str = "<string>") -> list[Any]:
    """The documents of a YAML text as ruamel nodes that keep their positions (``node.lc``), read as
    manifests are (YAML 1.1, no duplicate keys); raises `InvalidManifest` on a YAML syntax error.

    For files that embed manifests in a bigger document (scenarios): pass the embedded nodes to
    `load_node` so that their errors point into the same file.
    """
    source = _Source(filename, text)
    try:
        return [node for node in _yaml().load_all(text) if node is not None]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line, mark.column) if mark is not None else (0, 0)
        problem = exc.problem or exc.context or "invalid YAML"
        raise InvalidManifest([source.error_at(line, column, "", f"YAML: {problem}")]) from None


def load_node(node: Any, *, text: str, filename: str = "<string>", scheme: Scheme | None = None) -> Object:
    """The object of one manifest node from `read_yaml` of ``text``; raises `InvalidManifest`."""
    obj, problems = _load_document(node, scheme or _default_scheme(), _Source(filename, text))
    if problems or obj is None:
        raise InvalidManifest(sorted(problems, key=lambda e: (e.line, e.column)))
    return obj


def dump(objects: Iterable[Object], *, scheme: Scheme | None = None) -> str:
    """Objects as multi-document YAML that `load` reads back to equal objects."""
    scheme = scheme or _default_scheme()
    out = io.StringIO()
    yaml = YAML(typ="rt")
    yaml.version = (1, 1)
    yaml.explicit_start = True
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.dump_all([scheme.to_dict(obj) for obj in objects], out)
    # The %YAML directive only instructs the parser we already configure; drop it for readability.
    return re.sub(r"^%YAML 1\.1\n", "", out.getvalue(), flags=re.MULTILINE)


# --- one document ------------------------------------------------------------------------------


def _load_document(node: Any, scheme: Scheme, source: _Source) -> tuple[Object | None, list[ManifestError]]:
    if not isinstance(node, CommentedMap):
        line, column = _position(node)
        return None, [source.error_at(line, column, "", "a manifest must be a YAML mapping")]
    head = [
        FieldError(field, "Required value")
        for field in ("apiVersion", "kind")
        if not isinstance(node.get(field), str) or not node.get(field)
    ]
    if head:
        return None, [source.error(node, error.path, error.message) for error in head]
    info = scheme.info_for(node["apiVersion"], node["kind"])
    if info is None:
        message = f'no kind "{node["kind"]}" is registered for version "{node["apiVersion"]}"'
        return None, [source.error(node, "kind", message)]
    key_errors = [source.key_error(path, position) for path, position in _non_string_keys(node, "")]
    if key_errors:
        return None, key_errors
    data = _plain(node)
    schema_errors = [source.error(node, path, message) for path, message in _schema_errors(data)]
    if schema_errors:
        return None, schema_errors
    try:
        obj = scheme.from_dict(data)
    except Invalid as invalid:
        return None, [source.error(node, cause.path, cause.message) for cause in invalid.causes]
    problems = [*_unknown_fields(obj, info), *strategy.validate(strategy.default(obj), info)]
    return obj, [source.error(node, problem.path, problem.message) for problem in problems]


def _non_string_keys(node: Any, path: str) -> Iterator[tuple[str, tuple[int, int]]]:
    """Where YAML read a mapping key as something else than a string (``on:`` in YAML 1.1)."""
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            if not isinstance(key, str):
                yield path, node.lc.key(key)
            else:
                yield from _non_string_keys(value, _join(path, key))
    elif isinstance(node, CommentedSeq):
        for index, item in enumerate(node):
            yield from _non_string_keys(item, f"{path}[{index}]")


def _plain(node: Any) -> Any:
    """Plain JSON data from ruamel's round-trip nodes (whose scalars are subclasses)."""
    if isinstance(node, Mapping):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _unknown_fields(obj: Object, info: KindInfo) -> Iterator[FieldError]:
    """Fields a custom class does not know (built-in kinds were checked by the schema)."""
    if _schema_for(info.api_version, info.kind) is not None:
        return
    yield from _extra_fields(obj, "")


def _extra_fields(value: Any, path: str) -> Iterator[FieldError]:
    if isinstance(value, Model):
        for key in value.extra:
            if not isinstance(value, GenericObject):
                yield FieldError(_join(path, key), f'unknown field "{key}"')
        for field in attrs.fields(type(value)):
            if field.name != "extra":
                yield from _extra_fields(getattr(value, field.name), _join(path, wire_name(field)))
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            yield from _extra_fields(item, f"{path}[{index}]")


# --- schemas ------------------------------------------------------------------------------------


def _schema_errors(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    validator = _schema_for(document["apiVersion"], document["kind"])
    if validator is None:
        return
    seen: set[tuple[str, str]] = set()
    for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path))):
        for problem in _describe(error):
            # One problem can be reached through several schema paths ($ref, allOf).
            if problem not in seen:
                seen.add(problem)
                yield problem


def _describe(error: jsonschema.ValidationError) -> Iterator[tuple[str, str]]:
    path = _format_path(error.path)
    instance: Any = error.instance
    expected: Any = error.validator_value
    schema: Any = error.schema
    if error.validator == "oneOf" and error.context:
        # int-or-string and quantities: say what the alternatives accept, once.
        kinds = sorted({str(sub.validator_value) for sub in error.context if sub.validator == "type"})
        yield path, f"must be one of {', '.join(kinds)}, got {_json_type(instance)}"
    elif error.validator == "type":
        names = [expected] if isinstance(expected, str) else [t for t in expected if t != "null"]
        yield (
            path,
            f"must be {_article(names[0]) if names else 'null'}, got {_json_type(instance)}",
        )
    elif error.validator == "additionalProperties":
        known = schema.get("properties", {})
        for key in instance:
            if key not in known:
                yield _join(path, key), f'unknown field "{key}"'
    elif error.validator == "required":
        for key in expected:
            if key not in instance:
                yield _join(path, key), "Required value"
    elif error.validator == "enum":
        allowed = ", ".join(f'"{v}"' for v in expected if v is not None)
        yield path, f'Unsupported value: "{instance}": supported values: {allowed}'
    else:
        yield path, error.message


@functools.cache
def _schema_for(api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
    """The strict schema validator of a built-in kind, or None when the schemas don't know it."""
    version = utils.latest_version()
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    try:
        schema = utils.schema_contents(f"{folder}/{kind.lower()}-{group_version}.json", version)
    except FileNotFoundError:
        return None
    definitions = _definitions(folder, version)
    registry: Registry[Any] = Registry().with_resources(
        [
            (schema["$id"], Resource.from_contents(schema)),
            (definitions["$id"], Resource.from_contents(definitions)),
        ]
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


@functools.cache
def _definitions(folder: str, version: str) -> Any:
    return utils.schema_contents(f"{folder}/_definitions.json", version)


# --- positions ----------------------------------------------------------------------------------


class _Source:
    """A manifest text, for turning node positions and field paths into errors."""

    def __init__(self, filename: str, text: str) -> None:
        self.filename = filename
        self.lines = text.splitlines()

    def error_at(self, line: int, column: int, path: str, message: str) -> ManifestError:
        return ManifestError(self.filename, line + 1, column + 1, path, message)

    def error(self, document: CommentedMap, path: str, message: str) -> ManifestError:
        line, column, literal = self._locate(document, path)
        hint = _yaml11_hint(literal)
        return self.error_at(line, column, path, f"{message}{hint}")

    def key_error(self, path: str, position: tuple[int, int]) -> ManifestError:
        line, column = position
        literal = re.split(r"\s*:", self.lines[line][column:], maxsplit=1)[0]
        message = f"key {literal} is not a string{_yaml11_hint(literal)}"
        return self.error_at(line, column, path, message)

    def _locate(self, document: CommentedMap, path: str) -> tuple[int, int, str]:
        """The position of the deepest node on ``path``, and the scalar text found there."""
        node: Any = document
        line, column = _position(document)
        literal = ""
        for token in _path_tokens(path):
            if isinstance(node, CommentedMap) and token in node:
                line, column = node.lc.key(token)
                literal = self._literal(*node.lc.value(token))
                node = node[token]
            elif isinstance(node, CommentedSeq) and token.isdigit() and int(token) < len(node):
                line, column = node.lc.item(int(token))
                literal = self._literal(line, column)
                node = node[int(token)]
            else:
                break
        if isinstance(node, CommentedMap | CommentedSeq):
            literal = ""
        return line, column, literal

    def _literal(self, line: int, column: int) -> str:
        if line >= len(self.lines):
            return ""
        text = self.lines[line][column:]
        return re.split(r"\s+#|,|\]|\}", text, maxsplit=1)[0].strip()


_YAML11_BOOLEANS = re.compile(r"^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$")
_YAML11_OCTAL = re.compile(r"^[-+]?0[0-7_]+$")


def _yaml11_hint(literal: str) -> str:
    if _YAML11_BOOLEANS.match(literal):
        return f" (YAML 1.1 reads {literal} as a boolean; quote it to keep a string)"
    if _YAML11_OCTAL.match(literal):
        return f" (YAML 1.1 reads {literal} as an octal number; quote it to keep a string)"
    return ""


def _path_tokens(path: str) -> list[str]:
    return [dotted or bracketed for dotted, bracketed in re.findall(r"([^.\[\]]+)|\[([^\]]*)\]", path)]


def _format_path(parts: Iterable[Any]) -> str:
    path = ""
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, str(part))
    return path


def _join(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key}]"


def _position(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is None:
        return 0, 0
    return lc.line, lc.col


def _line_of(node: Any) -> int:
    return _position(node)[0]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    return "array"


def _article(type_name: str) -> str:
    return f"an {type_name}" if type_name[0] in "aeiou" else f"a {type_name}"


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.version = (1, 1)
    yaml.allow_duplicate_keys = False
    return yaml


@functools.cache
def _default_scheme() -> Scheme:
    return Scheme()
