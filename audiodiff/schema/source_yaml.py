"""Read YAML config text safely: only the parser is PyYAML's, the rest is ours.

PyYAML's loaders resolve scalars by YAML 1.1 (`1e-5` a string, `on`/`yes` booleans) and construct whatever a tag
names. Here only the event parser is used (libyaml's `CSafeLoader` when PyYAML has it, the pure-Python `SafeLoader`
otherwise); `yaml_compose.py` composes the events with marks, limits and merge keys, and `yaml_scalars.py` resolves
scalars by the YAML 1.2 core schema and accepts only JSON-compatible tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.model import Diagnostic, Related, Span
from audiodiff.schema.source_map import YAML_LINE_BREAK, LineIndex, SourceMap, describe_kind, mark_span
from audiodiff.schema.yaml_compose import Composer, MappingNode, Node, ScalarNode, source_map_of

# libyaml's parser when PyYAML was built with it; both offer the same event interface (tests swap them)
EVENT_LOADER: type = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader

# problems after which no document is returned (the others have an obvious best-effort reading)
_NO_USABLE_DATA = frozenset({codes.NON_FINITE_NUMBER, codes.YAML_SYNTAX})


@dataclass
class YamlOutcome:
    data: dict[str, Any] | None
    diagnostics: list[Diagnostic]
    root: Node | None  # kept for the source map


def parse_yaml(text: str, path: str, *, max_depth: int, max_nodes: int) -> YamlOutcome:
    """Compose the one YAML document of `text` into plain data and diagnostics; never raises for any text."""
    loader_class = EVENT_LOADER
    composer = Composer(path, max_depth, max_nodes)
    diagnostics = composer.diagnostics
    parser = None
    root: Node | None = None
    try:
        parser = loader_class(text)
        root = composer.compose_stream(parser.get_event)
    except yaml.MarkedYAMLError as error:
        diagnostics.append(_marked_error(error, text, path))
    except yaml.reader.ReaderError as error:
        diagnostics.append(_reader_error(error, text, path, loader_class))
    except yaml.YAMLError as error:
        diagnostics.append(Diagnostic(codes.YAML_SYNTAX, f"invalid YAML: {error}", None, path))
    except UnicodeError:  # a str with lone surrogates cannot be handed to libyaml as UTF-8
        diagnostics.append(Diagnostic(codes.NOT_UTF8, "the text holds characters UTF-8 cannot encode", None, path))
    finally:
        if parser is not None:
            parser.dispose()
    if root is None:
        return YamlOutcome(None, diagnostics, None)
    if type(root) is ScalarNode and root.data is None and root.text == "":
        diagnostics.append(Diagnostic(codes.EMPTY_DOCUMENT, "the YAML document is empty", "", path, Span(1, 1)))
        return YamlOutcome(None, diagnostics, root)
    if any(diagnostic.code in _NO_USABLE_DATA for diagnostic in diagnostics):
        return YamlOutcome(None, diagnostics, root)
    if type(root) is not MappingNode:
        diagnostics.append(
            Diagnostic(
                codes.TOP_LEVEL_NOT_OBJECT,
                f"the top level is {describe_kind(root.data)}, but a config must be an object",
                "",
                path,
                mark_span(root.start, root.end),
                help="write the settings as `key: value` lines",
            )
        )
        return YamlOutcome(None, diagnostics, root)
    return YamlOutcome(root.data, diagnostics, root)


def yaml_source_map(root: Node) -> SourceMap:
    """Positions of every pointer of a composed document."""
    return source_map_of(root)


def _marked_error(error: yaml.MarkedYAMLError, text: str, path: str) -> Diagnostic:
    problem = error.problem or error.context or "the text cannot be parsed"
    mark = error.problem_mark or error.context_mark
    span = Span(mark.line + 1, mark.column + 1) if mark is not None else None
    if "maximum nesting depth" in problem:  # libyaml's own limit (1000), met before ours when it scans ahead
        return Diagnostic(codes.NESTING_TOO_DEEP, "the document nests deeper than the parser allows", None, path, span)
    related: tuple[Related, ...] = ()
    context_mark = error.context_mark
    if error.context and context_mark is not None and error.problem:
        context_span = Span(context_mark.line + 1, context_mark.column + 1)
        if context_span != span:
            related = (Related(error.context, None, context_span, path),)
    help_text = None
    index = getattr(mark, "index", None)  # characters from the start, in both parsers
    if "tab" in problem or (isinstance(index, int) and 0 <= index < len(text) and text[index] == "\t"):
        help_text = "YAML indentation must use spaces, not tabs"
    return Diagnostic(codes.YAML_SYNTAX, f"invalid YAML: {problem}", None, path, span, help=help_text, related=related)


def _reader_error(error: Any, text: str, path: str, loader_class: type) -> Diagnostic:
    position = error.position
    if not issubclass(loader_class, yaml.reader.Reader):  # libyaml counts bytes of the UTF-8 encoding
        position = len(text.encode("utf-8", "surrogatepass")[:position].decode("utf-8", "ignore"))
    line, column = LineIndex(text, YAML_LINE_BREAK).position(min(position, len(text)))
    character = error.character
    found = f"U+{character:04X}" if isinstance(character, int) else repr(character)
    return Diagnostic(
        codes.YAML_SYNTAX,
        f"invalid YAML: {error.reason} (found {found})",
        None,
        path,
        Span(line, column),
        help="remove the control character or write it as an escape inside a double-quoted string",
    )
