"""XML at the bank edge: hostile-input-safe parsing, XSD validation against the vendored ISO 20022 schemas,
and namespace-agnostic element access (``local-name()`` semantics, so every message version reads alike)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from lxml import etree

from settle.errors import ValidationError

XSD_DIR = Path(__file__).resolve().parent / "xsd"
#: Files larger than this are refused before parsing (statements of a busy account stay far below).
MAX_XML_BYTES = 64 * 1024 * 1024

Element = etree._Element


def _parser() -> etree.XMLParser:
    # No entity expansion, no DTD loading, no network, libxml2's limits on text size and depth kept on.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def parse_xml(data: bytes, *, what: str = "XML document", error: type[ValidationError] = ValidationError) -> Element:
    """Parse ``data`` safely and return the root element.

    Refuses documents with a DTD (``<!DOCTYPE``: the vehicle of entity expansion bombs and external entities),
    oversized input and malformed XML, each with one clear ``error``.
    """
    if not isinstance(data, bytes | bytearray):
        raise error(f"{what}: expected bytes, got {type(data).__name__}")
    if len(data) > MAX_XML_BYTES:
        raise error(f"{what}: {len(data)} bytes is larger than the {MAX_XML_BYTES} byte limit")
    if not data.strip():
        raise error(f"{what}: the file is empty")
    head = bytes(data[:4096]).upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise error(f"{what}: refused, the document declares a DTD or entities (not allowed in ISO 20022 messages)")
    try:
        root = etree.fromstring(bytes(data), parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise error(f"{what}: not well-formed XML ({exc.msg})") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise error(f"{what}: refused, the document declares a DTD or entities (not allowed in ISO 20022 messages)")
    for node in root.iter():
        if isinstance(node, etree._Entity):
            raise error(f"{what}: refused, the document uses entity references")
    return root


@lru_cache(maxsize=16)
def load_schema(name: str) -> etree.XMLSchema:
    """The vendored XSD ``name`` (e.g. ``pain.008.001.08``), parsed once."""
    path = XSD_DIR / f"{name}.xsd"
    if not path.is_file():
        raise ValidationError(f"schema {name!r} is not vendored in {XSD_DIR}; available: {', '.join(available_schemas())}")
    return etree.XMLSchema(etree.parse(str(path), parser=_parser()))


def available_schemas() -> list[str]:
    return sorted(p.stem for p in XSD_DIR.glob("*.xsd"))


def validation_errors(document: bytes | Element, schema: str) -> list[str]:
    """Every XSD error of ``document`` against ``schema`` as ``line N: message`` (empty when valid)."""
    root = parse_xml(document, what=schema) if isinstance(document, bytes | bytearray) else document
    xsd = load_schema(schema)
    if xsd.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in xsd.error_log]


def validate(document: bytes | Element, schema: str, *, what: str, error: type[ValidationError] = ValidationError) -> None:
    """Raise ``error`` naming the first problems unless ``document`` is valid against ``schema``."""
    problems = validation_errors(document, schema)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise error(f"{what} breaks the {schema} schema: {'; '.join(problems[:3])}{more}")


def namespace_of(root: Element) -> str:
    return etree.QName(root).namespace or ""


def message_name(root: Element) -> str | None:
    """``camt.053.001.08`` from the document's namespace, or ``None`` when the namespace does not say."""
    namespace = namespace_of(root)
    marker = "xsd:"
    if marker in namespace:
        return namespace.rsplit(marker, 1)[1]
    tail = namespace.rstrip("/").rsplit("/", 1)[-1]
    return tail.removesuffix(".xsd") or None


# -- namespace-agnostic access ---------------------------------------------------------------------------------------


def local(element: Element) -> str:
    return etree.QName(element).localname


def children(element: Element | None, name: str) -> Iterator[Element]:
    """Direct children named ``name`` (any namespace)."""
    if element is None:
        return iter(())
    return element.iterchildren(f"{{*}}{name}")


def find(element: Element | None, path: str) -> Element | None:
    """The first element along ``path`` (``"Refs/EndToEndId"``), any namespace."""
    if element is None:
        return None
    return element.find(_any_namespace(path))


def findall(element: Element | None, path: str) -> list[Element]:
    """Every element along ``path``, any namespace, in document order."""
    if element is None:
        return []
    return element.findall(_any_namespace(path))


@lru_cache(maxsize=512)
def _any_namespace(path: str) -> str:
    # lxml's ElementPath: ``{*}Name`` matches ``Name`` in any namespace or none, step by step like the path.
    return "/".join(f"{{*}}{step}" for step in path.split("/"))


def text(element: Element | None, path: str | None = None) -> str | None:
    """Stripped text of ``element`` (or of the first element along ``path``); ``None`` if absent or empty."""
    node = find(element, path) if path else element
    if node is None or node.text is None:
        return None
    value = node.text.strip()
    return value or None
