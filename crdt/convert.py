"""Markdown import, and Markdown, HTML, plain text and JSON export of the text shape.

Supported subset: ATX headings, paragraphs, bullet and ordered lists (nested), bold,
italic, inline code, links and hard line breaks. Markdown output is normalized (``#``
headings, ``-`` bullets, ``1.`` numbering, ``**bold**``, ``*italic*``, ``[text](href)``,
``\\`` hard breaks), so Markdown → document → Markdown is stable once normalized.

Anything else degrades to the nearest supported shape unless ``strict=True``, which raises
`SchemaError` instead: a block quote keeps its paragraphs, a code block becomes a paragraph
with hard breaks, an image its alt text, a thematic break is dropped, raw HTML stays text.
Normalization also drops empty paragraphs, marks on the whitespace at the edges of a marked
run and whitespace at the edges of a paragraph.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from markdown_it import MarkdownIt
from markdown_it.token import Token
from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from crdt.errors import SchemaError
from crdt.schema import (
    HARD_BREAK,
    RENDER_DEPTH,
    JsonValue,
    attributes,
    block_id,
    blocks,
    clamp_level,
    clamp_start,
    is_textblock,
    set_missing_ids,
    text_fragment,
    transact,
    walk,
)

DEFAULT_MAX_BYTES = 1_000_000
Format = Literal["md", "html", "text", "json"]
_MARK_ORDER = ("link", "bold", "italic", "code")  # code innermost: nothing nests inside it
_MD_DELIMITER = {"bold": "**", "italic": "*"}
_HTML_TAG = {"bold": "strong", "italic": "em", "code": "code"}
_SAFE_HREF = re.compile(r"^(?:https?:|mailto:|tel:|[/#?.]|[^:/?#]*(?:[/?#]|$))", re.IGNORECASE)
_ENTITY = re.compile(r"&(?=#?\w+;)")


@dataclass(frozen=True, slots=True)
class Span:
    """A run of inline text with its marks; ``is_break`` marks a hard line break."""

    text: str
    marks: frozenset[str] = frozenset()
    href: str | None = None
    is_break: bool = False


@dataclass(slots=True)
class _Node:
    type: str
    attrs: dict[str, JsonValue] = field(default_factory=dict)
    children: list[_Node] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    id: str | None = None


def import_markdown(
    doc: Doc[Any], markdown: str, *, origin: object = None,
    max_bytes: int = DEFAULT_MAX_BYTES, strict: bool = False,
) -> bytes:
    """Append the Markdown's blocks to the text, with ids, in one transaction; return the update.

    Raises:
        SchemaError: the input exceeds `max_bytes`, or (strict) uses an unsupported construct.
    """
    size = len(markdown.encode("utf-8"))
    if size > max_bytes:
        raise SchemaError(f"Markdown of {size} bytes exceeds the limit of {max_bytes} bytes")
    nodes = _parse(markdown, strict=strict)

    def write() -> None:
        fragment = text_fragment(doc)
        for node in nodes:
            _write(fragment, node)
        set_missing_ids(doc)

    _, update = transact(doc, write, origin=origin)
    return update


def markdown_to_doc(markdown: str, *, max_bytes: int = DEFAULT_MAX_BYTES,
                    strict: bool = False) -> Doc[Any]:
    """A new document holding the Markdown, every block with an id.

    Raises:
        SchemaError: as `import_markdown`.
    """
    doc: Doc[Any] = Doc()
    import_markdown(doc, markdown, max_bytes=max_bytes, strict=strict)
    return doc


def render(doc: Doc[Any], fmt: Format) -> str:
    """Render the text as ``md``, ``html``, ``text`` or ``json`` (a JSON string).

    Raises:
        SchemaError: an unknown format.
    """
    renderers: dict[str, Callable[[Doc[Any]], str]] = {
        "md": to_markdown, "html": to_html, "text": to_text,
        "json": lambda d: json.dumps(to_json(d), ensure_ascii=False),
    }
    if fmt not in renderers:
        raise SchemaError(f"unknown format {fmt!r}; expected one of md, html, text, json")
    return renderers[fmt](doc)


def to_markdown(doc: Doc[Any]) -> str:
    """The text as normalized Markdown, ending with one newline (empty text: empty string)."""
    out = "\n\n".join(_md_blocks(_read(text_fragment(doc))))
    return out + "\n" if out else ""


def to_html(doc: Doc[Any]) -> str:
    """The text as an HTML fragment; every block carries ``id`` and ``data-id``."""
    return "".join(_html_block(node) for node in _read(text_fragment(doc)))


def to_text(doc: Doc[Any]) -> str:
    """The plain text: one paragraph per text block, separated by blank lines."""
    texts = [block.text for block in blocks(doc) if block.text.strip()]
    return "\n\n".join(texts) + "\n" if texts else ""


def to_json(doc: Doc[Any]) -> dict[str, JsonValue]:
    """``{"blocks": [...]}`` in document order.

    Each block has ``id``, ``type``, ``text``, ``article_id``; ``level`` for a heading,
    ``parent_id`` inside a list, ``attrs`` when it has others, and ``marks`` as
    ``{"type", "start", "end", "href"?}`` with offsets in code points of ``text``.
    """
    out: list[JsonValue] = []
    for block, (element, _, _, _) in zip(blocks(doc), walk(doc), strict=True):
        item: dict[str, JsonValue] = {"id": block.id, "type": block.type, "text": block.text,
                                      "article_id": block.article_id}
        if block.level is not None:
            item["level"] = block.level
        if block.parent_id is not None:
            item["parent_id"] = block.parent_id
        extra = {k: v for k, v in block.attrs.items() if k != "level"}
        if extra:
            item["attrs"] = extra
        marks = _json_marks(read_spans(element)) if is_textblock(element) else []
        if marks:
            item["marks"] = marks
        out.append(item)
    return {"blocks": out}


def read_spans(element: XmlElement) -> list[Span]:
    """The inline content of a text block, marks read as y-prosemirror writes them."""
    spans: list[Span] = []
    for child in element.children:
        if isinstance(child, XmlElement):
            if child.tag == HARD_BREAK:
                spans.append(Span("\n", is_break=True))
            continue
        if not isinstance(child, XmlText):
            continue
        for chunk, attrs in child.diff():
            if isinstance(chunk, str) and chunk:
                spans.append(_span(chunk, attrs or {}))
    return spans


def _span(text: str, attrs: dict[str, Any]) -> Span:
    # y-prosemirror suffixes overlapping marks with "--<hash>"
    names = {key.split("--")[0] for key, value in attrs.items() if value is not None}
    link = next((v for k, v in attrs.items() if k.split("--")[0] == "link"), None)
    href = link.get("href") if isinstance(link, dict) else None
    if not isinstance(href, str):
        names.discard("link")
        href = None
    return Span(text, frozenset(names & set(_MARK_ORDER)), href)


def _json_marks(spans: list[Span]) -> list[JsonValue]:
    marks: list[JsonValue] = []
    start = 0
    for span in spans:
        end = start + len(span.text)
        for name in sorted(span.marks):
            mark: dict[str, JsonValue] = {"type": name, "start": start, "end": end}
            if name == "link":
                mark["href"] = span.href
            marks.append(mark)
        start = end
    return marks


def _read(node: XmlFragment | XmlElement, depth: int = 0) -> list[_Node]:
    out: list[_Node] = []
    if depth > RENDER_DEPTH:
        return out
    for child in node.children:
        if not isinstance(child, XmlElement):
            continue
        item = _Node(child.tag or "", attributes(child), id=block_id(child))
        item.attrs.pop("id", None)
        if is_textblock(child):
            item.spans = read_spans(child)
        else:
            item.children = _read(child, depth + 1)
        out.append(item)
    return out


def _write(parent: XmlFragment | XmlElement, node: _Node) -> None:
    element = parent.children.append(XmlElement(node.type))
    for key, value in node.attrs.items():
        element.attributes[key] = value
    for child in node.children:
        _write(element, child)
    text: XmlText | None = None
    for span in node.spans:
        if span.is_break:
            element.children.append(XmlElement(HARD_BREAK))
            text = None
            continue
        if text is None:
            text = element.children.append(XmlText())
        attrs: dict[str, Any] = {name: {} for name in span.marks}
        if span.href is not None:
            attrs["link"] = {"href": span.href}
        text.insert(len(text), span.text, attrs)  # len() counts UTF-8 bytes, as insert does


_PARSER = MarkdownIt("commonmark", {"html": False})
"""One parser for every call (building one took half a millisecond; parsing keeps its
state per call, so threads may share it)."""


def _parse(markdown: str, *, strict: bool) -> list[_Node]:
    parser = _PARSER
    root = _Node("doc")
    stack = [root]
    for token in parser.parse(markdown):
        kind = token.type
        if kind in _BLOCK_OPEN:
            node = _Node(_BLOCK_OPEN[kind])
            if kind == "heading_open":
                node.attrs["level"] = int(token.tag[1])
            elif kind == "ordered_list_open":
                node.attrs["start"] = int(token.attrGet("start") or 1)
            stack[-1].children.append(node)
            stack.append(node)
        elif kind.removesuffix("_close") + "_open" in _BLOCK_OPEN:
            done = stack.pop()
            if done.type == "listItem" and (not done.children or
                                            done.children[0].type != "paragraph"):
                done.children.insert(0, _Node("paragraph"))  # Tiptap: "paragraph block*"
        elif kind == "inline":
            stack[-1].spans = _parse_inline(token.children or [], strict=strict)
        elif strict:
            raise SchemaError(f"unsupported Markdown construct {kind!r} at line "
                              f"{(token.map or [0])[0] + 1}")
        elif kind in ("code_block", "fence"):
            lines = token.content.rstrip("\n").split("\n")
            spans = [s for line in lines for s in (Span("\n", is_break=True), Span(line))][1:]
            stack[-1].children.append(_Node("paragraph", spans=[s for s in spans if s.text]))
        # blockquote_open/_close and hr: the quoted blocks stay, the rule goes
    return root.children


_BLOCK_OPEN = {"heading_open": "heading", "paragraph_open": "paragraph",
               "bullet_list_open": "bulletList", "ordered_list_open": "orderedList",
               "list_item_open": "listItem"}


def _parse_inline(tokens: Iterable[Token], *, strict: bool) -> list[Span]:
    spans: list[Span] = []
    marks: set[str] = set()
    hrefs: list[str] = []
    toggles = {"strong": "bold", "em": "italic"}
    for token in tokens:
        kind = token.type
        name = kind.rsplit("_", 1)[0]
        if name in toggles and kind.endswith(("_open", "_close")):
            (marks.add if kind.endswith("_open") else marks.discard)(toggles[name])
        elif kind == "link_open":
            hrefs.append(str(token.attrGet("href") or ""))
        elif kind == "link_close":
            hrefs.pop()
        elif kind in ("text", "code_inline", "softbreak") or (kind == "image" and not strict):
            text = " " if kind == "softbreak" else token.content
            extra = {"code"} if kind == "code_inline" else set()
            current = marks | extra | ({"link"} if hrefs else set())
            spans.append(Span(text, frozenset(current), hrefs[-1] if hrefs else None))
        elif kind == "hardbreak":
            spans.append(Span("\n", is_break=True))
        else:
            raise SchemaError(f"unsupported inline Markdown construct {kind!r}")
    return [span for span in spans if span.text]


def _md_blocks(nodes: list[_Node]) -> list[str]:
    out = []
    for node in nodes:
        if node.type == "heading":
            hashes = "#" * clamp_level(node.attrs.get("level"))
            text = _md_inline([Span(" ") if s.is_break else s for s in node.spans])
            if text.endswith("#"):
                text = text[:-1] + "\\#"  # else it reads as a closing sequence
            out.append(f"{hashes} {text}" if text else hashes)
        elif node.type in ("bulletList", "orderedList"):
            out.append(_md_list(node))
        elif node.children:
            out.extend(_md_blocks(node.children))
        elif text := _md_inline(node.spans):
            out.append(text)
    return out


def _md_list(node: _Node) -> str:
    number = clamp_start(node.attrs.get("start"))
    items = []
    for index, item in enumerate(node.children):
        marker = f"{number + index}. " if node.type == "orderedList" else "- "
        body = ""
        for child in item.children if item.type == "listItem" else [item]:
            for part in _md_blocks([child]):
                gap = "\n" if child.type in ("bulletList", "orderedList") else "\n\n"
                body += (gap if body else "") + part
        lines = body.split("\n")
        pad = " " * len(marker)
        items.append((marker + lines[0]).rstrip()
                     + "".join("\n" + (pad + line if line else "") for line in lines[1:]))
    return "\n".join(items)


def _md_inline(spans: list[Span], *, emphasis: bool = True) -> str:
    while spans and spans[-1].is_break:
        spans = spans[:-1]
    while spans and spans[0].is_break:
        spans = spans[1:]
    state = {"line_start": True}

    def text(span: Span, following: Span) -> str:
        if span.is_break:
            state["line_start"] = True
            return "\\\n"
        if "code" in span.marks:
            out = _md_code(span.text)
        else:
            out = _md_escape(span.text, line_start=state["line_start"])
            if out.endswith("!") and following.href not in (None, span.href):
                out = out[:-1] + "\\!"  # else "![" would open an image
        state["line_start"] = False
        return out

    def delimiter(mark: str, href: str | None, is_open: bool) -> str:
        if mark == "link":
            return "[" if is_open else f"]({_md_href(href or '')})"
        return _MD_DELIMITER[mark]

    out = _inline(spans, text, delimiter).strip()
    # Only emphasis can read back differently; a run without it skips the check (which
    # parses the output again: most of the cost of rendering a long text).
    if emphasis and any(s.marks & _EMPHASIS for s in spans) and _marked_chars(
            _parse(out, strict=False)) != _marked_chars([_Node("paragraph", spans=spans)]):
        # CommonMark cannot put a delimiter between a word and punctuation (``1**:**``):
        # rather than export text that reads back differently, drop this run's emphasis.
        return _md_inline([Span(s.text, s.marks - {"bold", "italic"}, s.href, s.is_break)
                           for s in spans], emphasis=False)
    return out


_EMPHASIS = frozenset({"bold", "italic"})


def _marked_chars(nodes: list[_Node]) -> list[tuple[frozenset[str], str]]:
    """The visible characters of one paragraph, by runs of equal marks (a canonical form:
    two paragraphs read the same exactly when these are equal)."""
    spans = [s for node in nodes for s in node.spans] if len(nodes) == 1 else []
    runs: list[tuple[frozenset[str], list[str]]] = []
    for span in spans:
        chars = "".join(span.text.split())
        if not chars:
            continue
        if runs and runs[-1][0] == span.marks:
            runs[-1][1].append(chars)
        else:
            runs.append((span.marks, [chars]))
    return [(marks, "".join(parts)) for marks, parts in runs]


def _md_escape(text: str, *, line_start: bool) -> str:
    text = _ENTITY.sub("\\\\&", _MD_SPECIAL.sub(r"\\\1", text))
    if line_start:
        text = _MD_LINE_START.sub(r"\1\\\2", text)
    return text


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<])")
_MD_LINE_START = re.compile(r"^(\s*|\s*\d+)([#>+=~.)-])")


def _md_code(text: str) -> str:
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") or (
        text.startswith(" ") and text.endswith(" ") and text.strip()) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_href(href: str) -> str:
    if not href or re.search(r"[\s()<>]", href):
        return "<" + href.replace("<", "%3C").replace(">", "%3E") + ">"
    return href


def _merge(spans: list[Span]) -> list[Span]:
    """Join neighbours with equal marks; a whitespace-only run keeps only the marks that
    continue on both sides, so no delimiter ever opens or closes on whitespace alone."""
    out: list[Span] = []
    for index, span in enumerate(spans):
        if not span.is_break and not span.text.strip():
            around = [spans[i] for i in (index - 1, index + 1) if 0 <= i < len(spans)]
            kept = span.marks.intersection(*(s.marks for s in around)) if around else set()
            span = Span(span.text, frozenset(kept), span.href if "link" in kept else None)
        last = out[-1] if out else None
        if last and not (span.is_break or last.is_break) and (last.marks, last.href) == (
                span.marks, span.href):
            out[-1] = Span(last.text + span.text, span.marks, span.href)
        else:
            out.append(span)
    return out


def _inline(spans: list[Span], text: Callable[[Span, Span], str],
            delimiter: Callable[[str, str | None, bool], str]) -> str:
    """Render spans, marks kept as a stack so delimiters nest; a mark that lasts longer opens
    first, and whitespace at a mark's edge goes outside its delimiters."""
    out: list[str] = []
    stack: list[tuple[str, str | None]] = []
    spans = [*_merge(spans), Span("")]
    for index, span in enumerate(spans):
        wanted = [(m, span.href if m == "link" else None) for m in _STACKED if m in span.marks]
        keep = 0
        while keep < len(stack) and stack[keep] in wanted:
            keep += 1
        if keep < len(stack):
            last = out.pop() if out else ""
            out.append(last.rstrip(" \t"))
            out.extend(delimiter(mark, href, False) for mark, href in reversed(stack[keep:]))
            out.append(last[len(last.rstrip(" \t")):])
            del stack[keep:]
        rendered = text(span, spans[min(index + 1, len(spans) - 1)]) if span.text else ""
        lead = len(rendered) - len(rendered.lstrip(" \t"))
        out.append(rendered[:lead])
        fresh = [mark for mark in wanted if mark not in stack]
        fresh.sort(key=lambda mark: -_lasting(spans, index, mark))
        for mark, href in fresh:
            out.append(delimiter(mark, href, True))
            stack.append((mark, href))
        out.append(rendered[lead:])
    return "".join(out)


def _lasting(spans: list[Span], start: int, mark: tuple[str, str | None]) -> int:
    end = start
    while end < len(spans) and mark[0] in spans[end].marks and (
            mark[0] != "link" or spans[end].href == mark[1]):
        end += 1
    return end - start


_STACKED = ("link", "bold", "italic")


def _html_block(node: _Node) -> str:
    ident = html.escape(node.id or "", quote=True)
    ids = f' id="{ident}" data-id="{ident}"' if node.id else ""
    if node.type == "heading":
        tag = f"h{clamp_level(node.attrs.get('level'))}"
    elif node.type in ("bulletList", "orderedList"):
        tag = "ul" if node.type == "bulletList" else "ol"
        start = clamp_start(node.attrs.get("start"))
        if tag == "ol" and start != 1:
            ids += f' start="{start}"'
    else:
        tag = {"listItem": "li", "paragraph": "p"}.get(node.type, "div")
    inner = "".join(_html_block(child) for child in node.children) + _html_inline(node.spans)
    return f"<{tag}{ids}>{inner}</{tag}>\n"


def _html_inline(spans: list[Span]) -> str:
    def text(span: Span, _: Span) -> str:
        if span.is_break:
            return "<br>"
        escaped = html.escape(span.text, quote=False)
        return f"<code>{escaped}</code>" if "code" in span.marks else escaped

    def delimiter(mark: str, href: str | None, is_open: bool) -> str:
        if mark == "link":
            return f'<a href="{html.escape(href or "", quote=True)}">' if is_open else "</a>"
        return f"<{'' if is_open else '/'}{_HTML_TAG[mark]}>"

    safe = [s if s.href is None or _SAFE_HREF.match(s.href)
            else Span(s.text, s.marks - {"link"}) for s in spans]
    return _inline(safe, text, delimiter)


Node = _Node
"""A block read from the text: ``type``, ``attrs``, ``id``, inline ``spans`` or ``children``."""


def read_tree(doc: Doc[Any]) -> list[_Node]:
    """The text's blocks as a tree, in document order (for renderers outside this module)."""
    return _read(text_fragment(doc))


def html_block(node: _Node) -> str:
    """One block (and its children) as HTML, as `to_html` writes it."""
    return _html_block(node)
