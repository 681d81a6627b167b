"""Compose YAML parser events into plain data, keeping each node's marks for the source map.

Composition is iterative (no recursion on the input's depth) and stops at the depth limit. Every alias becomes a
fresh copy of its anchor's data, so no two places of the data share one object; each node knows its expanded size,
so an alias is checked against the node limit before anything is copied ("billion laughs" stops at once).
`<<` merge keys are supported: a plain, untagged `<<` key merges an object (usually an alias) or a list of objects
into its mapping; the mapping's own keys win, then earlier merged objects win over later ones; merged keys follow
the mapping's own keys in the data.
"""

from __future__ import annotations

from typing import Any

from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from audiodiff.diagnostics import codes
from audiodiff.diagnostics.bounds import echo
from audiodiff.diagnostics.codes import Code
from audiodiff.diagnostics.model import Diagnostic, Related, Span
from audiodiff.schema.pointer import escape
from audiodiff.schema.source_map import Position, SourceMap, describe_kind, mark_span
from audiodiff.schema.yaml_scalars import Problem, collection_tag_problem, resolve_scalar


class Node:
    """A composed node: its marks, its plain data, its expanded node count and its height (0 for scalars)."""

    __slots__ = ("start", "end", "data", "size", "height")

    def __init__(self, start: Any, end: Any, data: Any, size: int, height: int) -> None:
        self.start, self.end, self.data, self.size, self.height = start, end, data, size, height


class ScalarNode(Node):
    __slots__ = ("text",)
    text: str  # the scalar as written, for keys that are not strings


class SequenceNode(Node):
    __slots__ = ("items",)
    items: list[Node]


class MappingNode(Node):
    __slots__ = ("entries",)
    entries: dict[str, tuple[Node, Node]]  # key -> (key node, value node), merged keys included, in data order


class AliasNode(Node):
    __slots__ = ("target",)
    target: Node


def _deref(node: Node) -> Node:
    return node.target if type(node) is AliasNode else node


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: _copy(item) for key, item in value.items()}
    if kind is list:
        return [_copy(item) for item in value]
    return value


def _data_of(node: Node) -> Any:
    """A node's data for placing into its parent: an alias gives a fresh copy of its anchor's data."""
    return _copy(node.target.data) if type(node) is AliasNode else node.data


class _Frame:
    """A mapping or sequence being composed."""

    __slots__ = (
        "is_map", "pointer", "start", "flow", "anchor", "children", "own", "merges", "has_key", "key", "key_node",
        "merge_next", "merge_key_node", "size", "height", "last_end",
    )  # fmt: skip

    def __init__(self, is_map: bool, pointer: str, start: Any, flow: bool, anchor: str | None) -> None:
        self.is_map, self.pointer, self.start, self.flow, self.anchor = is_map, pointer, start, flow, anchor
        self.children: list[Node] = []
        self.own: dict[str, tuple[Node, Node]] = {}
        self.merges: list[MappingNode] = []
        self.has_key = False  # a key was read and its value comes next
        self.key: str | None = None  # that key as a string; None when it was dropped (not a string) or is `<<`
        self.key_node: Node | None = None
        self.merge_next = False  # the key being attached is a `<<` merge key
        self.merge_key_node: Node | None = None
        self.size = 1
        self.height = 1
        self.last_end: Any = None


class Stop(Exception):
    """A problem that ends composition (depth, alias bomb, undefined alias); its diagnostic is already recorded."""


class Composer:
    """Turns the events of one YAML stream into a root node; problems go to `diagnostics`."""

    def __init__(self, path: str, max_depth: int, max_nodes: int) -> None:
        self.path = path
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.diagnostics: list[Diagnostic] = []
        self.anchors: dict[str, Node | _Frame] = {}  # a _Frame while the anchored collection is still open
        self.expanded = 0  # nodes so far, aliases counted at their expanded size
        self.stack: list[_Frame] = []

    def emit(self, code: Code, message: str, pointer: str | None, span: Span | None, **extra: Any) -> None:
        self.diagnostics.append(Diagnostic(code, message, pointer, self.path, span, **extra))

    def emit_problem(self, problem: Problem, pointer: str, span: Span) -> None:
        code, message, help_text = problem
        self.emit(code, message, pointer, span, help=help_text)

    # ---- the stream ------------------------------------------------------------------------------------------
    def compose_stream(self, next_event: Any) -> Node | None:
        """The single document's root node, or None when there is no usable one (diagnostics say why)."""
        next_event()  # StreamStartEvent
        event = next_event()
        if type(event) is StreamEndEvent:
            self.emit(codes.EMPTY_DOCUMENT, "the file holds no YAML document", "", Span(1, 1))
            return None
        try:
            root = self.compose_document(next_event)
        except Stop:
            return None
        next_event()  # DocumentEndEvent
        event = next_event()
        if type(event) is DocumentStartEvent:
            self.emit(
                codes.MULTIPLE_DOCUMENTS,
                "the file holds more than one YAML document",
                "",
                mark_span(event.start_mark, event.end_mark),
                help="a config file holds one document: remove the second `---` or split the file",
            )
            return None
        return root

    def compose_document(self, next_event: Any) -> Node:
        stack = self.stack
        while True:
            event = next_event()
            kind = type(event)
            if kind is ScalarEvent:
                node: Node = self.scalar(event)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                self.open(event, kind is MappingStartEvent)
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                node = self.close(event)
            elif kind is AliasEvent:
                node = self.alias(event)
            else:  # the parser never sends other events inside a document
                self.emit(codes.YAML_SYNTAX, f"invalid YAML: unexpected `{kind.__name__}`", None, None)
                raise Stop
            if not stack:
                return node
            self.attach(stack[-1], node)

    # ---- where the next node goes ----------------------------------------------------------------------------
    def slot_pointer(self) -> str:
        if not self.stack:
            return ""
        top = self.stack[-1]
        if not top.is_map:
            return f"{top.pointer}/{len(top.children)}"
        if top.has_key:
            if top.key is not None:
                return top.pointer + "/" + escape(top.key)
            if top.merge_key_node is not None and top.key_node is top.merge_key_node:
                return top.pointer + "/<<"
        return top.pointer  # a key itself, or the value of a dropped key

    # ---- nodes -------------------------------------------------------------------------------------------------
    def scalar(self, event: Any) -> ScalarNode:
        text: str = event.value
        plain = not event.style
        top = self.stack[-1] if self.stack else None
        is_key = top is not None and top.is_map and not top.has_key
        value, problem = resolve_scalar(text, event.tag, plain)
        if problem is not None:
            self.emit_problem(problem, self.slot_pointer(), mark_span(event.start_mark, event.end_mark))
        elif is_key and plain and event.tag is None and text == "<<":
            top.merge_next = True  # type: ignore[union-attr]
        if not is_key and type(value) is float and value - value != 0.0:  # NaN and +-inf give NaN
            self.emit(
                codes.NON_FINITE_NUMBER,
                f"`{text}` is not a finite number",
                self.slot_pointer(),
                mark_span(event.start_mark, event.end_mark),
                help="use a finite number",
            )
        node = ScalarNode(event.start_mark, event.end_mark, value, 1, 0)
        node.text = text
        if event.anchor is not None:
            self.anchors[event.anchor] = node
        self.expanded += 1
        return node

    def open(self, event: Any, is_map: bool) -> None:
        pointer = self.slot_pointer()
        span = mark_span(event.start_mark, event.end_mark)
        if len(self.stack) >= self.max_depth:
            self.emit(codes.NESTING_TOO_DEEP, f"the document nests deeper than {self.max_depth} levels", pointer, span)
            raise Stop
        problem = collection_tag_problem(event.tag, is_map)
        if problem is not None:
            self.emit_problem(problem, pointer, span)
        frame = _Frame(is_map, pointer, event.start_mark, bool(event.flow_style), event.anchor)
        if event.anchor is not None:
            self.anchors[event.anchor] = frame
        self.expanded += 1
        self.stack.append(frame)

    def close(self, event: Any) -> Node:
        frame = self.stack.pop()
        # a block collection ends with its last child, not at the first token after it (often the next line)
        end = frame.last_end if not frame.flow and frame.last_end is not None else event.end_mark
        node: Node
        if frame.is_map:
            entries = frame.own
            data = {key: _data_of(value) for key, (_, value) in entries.items()}
            if frame.merges:
                entries = dict(entries)
                for source in frame.merges:
                    for key, pair in source.entries.items():
                        if key not in entries:
                            entries[key] = pair
                            data[key] = _copy(_data_of(pair[1]))
            node = MappingNode(frame.start, end, data, frame.size, frame.height)
            node.entries = entries
        else:
            items = frame.children
            node = SequenceNode(frame.start, end, [_data_of(child) for child in items], frame.size, frame.height)
            node.items = items
        if frame.anchor is not None and self.anchors.get(frame.anchor) is frame:
            self.anchors[frame.anchor] = node  # unless a node inside redefined the same anchor name
        return node

    def alias(self, event: Any) -> AliasNode:
        name = event.anchor
        span = mark_span(event.start_mark, event.end_mark)
        target = self.anchors.get(name)
        if isinstance(target, _Frame):
            self.emit(
                codes.YAML_ALIAS_BOMB,
                f"alias `*{name}` lies inside its own anchor `&{name}`, so it would expand forever",
                self.slot_pointer(),
                span,
            )
            raise Stop
        if target is None:
            self.emit(codes.YAML_SYNTAX, f"invalid YAML: alias `*{name}` names no anchor defined before it", None, span)
            raise Stop
        if len(self.stack) + target.height > self.max_depth:
            self.emit(
                codes.NESTING_TOO_DEEP,
                f"alias `*{name}` makes the document nest deeper than {self.max_depth} levels",
                self.slot_pointer(),
                span,
            )
            raise Stop
        self.expanded += target.size
        if self.expanded > self.max_nodes:
            self.emit(
                codes.YAML_ALIAS_BOMB,
                f"aliases expand the document to more than {self.max_nodes} nodes",
                self.slot_pointer(),
                span,
                help="an alias copies its anchor's whole value; nested aliases multiply",
            )
            raise Stop
        node = AliasNode(event.start_mark, event.end_mark, None, target.size, target.height)
        node.target = target
        return node

    # ---- putting a node into its parent ----------------------------------------------------------------------
    def attach(self, frame: _Frame, node: Node) -> None:
        frame.last_end = node.end
        if not frame.is_map:
            frame.children.append(node)
        elif not frame.has_key:
            frame.has_key = True
            frame.key_node = node
            if frame.merge_next:
                frame.merge_next = False
                frame.key = None
                if frame.merge_key_node is not None:
                    self.duplicate(frame.pointer + "/<<", "<<", frame.merge_key_node, node)
                frame.merge_key_node = node
            else:
                frame.key = self.key_string(frame, node)
            return
        else:
            frame.has_key = False
            key, key_node = frame.key, frame.key_node
            if key is None:
                if key_node is not None and key_node is frame.merge_key_node:
                    self.merge(frame, node)
                return
            first = frame.own.get(key)
            if first is not None:
                self.duplicate(frame.pointer + "/" + escape(key), key, first[0], key_node)  # type: ignore[arg-type]
            frame.own[key] = (key_node, node)  # type: ignore[assignment]  # the last value wins, as in json.load
        frame.size += node.size
        if node.height >= frame.height:
            frame.height = node.height + 1

    def key_string(self, frame: _Frame, node: Node) -> str | None:
        """The key as a string; a scalar that is not a string is reported and kept as written, a collection is
        reported and its entry dropped (None)."""
        target = _deref(node)
        span = mark_span(node.start, node.end)
        if type(target) is ScalarNode:
            value = target.data
            if type(value) is str:
                return value
            text = target.text
            self.emit(
                codes.WRONG_TYPE,
                f"key `{text}` is {describe_kind(value)}, but keys must be strings",
                frame.pointer + "/" + escape(text),
                span,
                help=f'quote the key: `"{text}"`',
            )
            return text
        kind = "an object" if type(target) is MappingNode else "a list"
        self.emit(codes.WRONG_TYPE, f"a key may not be {kind}; keys must be strings", frame.pointer, span)
        return None

    def merge(self, frame: _Frame, node: Node) -> None:
        target = _deref(node)
        items = [_deref(item) for item in target.items] if type(target) is SequenceNode else []
        mappings = [item for item in items if type(item) is MappingNode]
        sources: list[MappingNode]
        if type(target) is MappingNode:
            sources = [target]
        elif type(target) is SequenceNode and len(mappings) == len(items):
            sources = mappings
        else:
            found = "a list holding other values" if type(target) is SequenceNode else describe_kind(target.data)
            self.emit(
                codes.WRONG_TYPE,
                f"the value of a `<<` merge key must be an object or a list of objects, not {found}",
                frame.pointer + "/<<",
                mark_span(node.start, node.end),
            )
            return
        for source in sources:
            frame.merges.append(source)
            frame.size += source.size
            frame.height = max(frame.height, source.height)

    def duplicate(self, pointer: str, key: str, first: Node, again: Node) -> None:
        self.emit(
            codes.DUPLICATE_KEY,
            f"key `{echo(key)}` appears more than once in this object",
            pointer,
            mark_span(again.start, again.end),
            help="keep one of the entries; a YAML reader silently keeps only the last one",
            related=(
                Related(f"`{echo(key)}` first appears here", pointer, mark_span(first.start, first.end), self.path),
            ),
        )


def source_map_of(root: Node) -> SourceMap:
    """Positions of every pointer below `root`; members reached through an alias point into the anchored text."""
    positions: dict[str, Position] = {}
    stack: list[tuple[str, Span | None, Node]] = [("", None, root)]
    while stack:
        pointer, key_span, node = stack.pop()
        positions[pointer] = Position(key_span, mark_span(node.start, node.end))
        node = _deref(node)
        if type(node) is MappingNode:
            for key, (key_node, value_node) in node.entries.items():
                stack.append((pointer + "/" + escape(key), mark_span(key_node.start, key_node.end), value_node))
        elif type(node) is SequenceNode:
            for index, item in enumerate(node.items):
                stack.append((f"{pointer}/{index}", None, item))
    return SourceMap(positions)
