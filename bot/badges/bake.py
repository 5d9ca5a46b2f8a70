"""Badge baking (Open Badges Baking Specification 2.0): the assertion travels inside the image.

PNG: one uncompressed iTXt chunk, keyword `openbadges`, before IEND; baking again replaces it
(the spec allows only one). SVG: `<openbadges:assertion verify="…">` as the first child of
<svg>, the assertion JSON in CDATA. Pure stdlib, so the web app can bake on every request.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEYWORD = "openbadges"
# OB 3.0 bakes a credential under its own keyword; pass it as `keyword` to bake both in one image.
PNG_KEYWORD_OB3 = "openbadgecredential"
SVG_NAMESPACE = "http://openbadges.org"


# --- PNG -----------------------------------------------------------------------------------------


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, checking structure and CRCs, up to and including IEND."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file (bad signature)")
    chunks: list[tuple[bytes, bytes]] = []
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        if len(data) != length or pos + 12 + length > len(png):
            raise ValueError(f"truncated PNG chunk {kind!r}")
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + data) != crc:
            raise ValueError(f"bad CRC in PNG chunk {kind!r}")
        chunks.append((kind, data))
        pos += 12 + length
        if kind == b"IEND":
            return chunks
    raise ValueError("PNG has no IEND chunk")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _text_keyword(kind: bytes, data: bytes) -> str | None:
    if kind not in (b"iTXt", b"tEXt"):
        return None
    return data.split(b"\0", 1)[0].decode("latin-1")


def bake_png(png: bytes, assertion_json_or_url: str, *, keyword: str = PNG_KEYWORD) -> bytes:
    """`png` with the assertion (JSON text, signed JWS, or hosted URL) in an iTXt chunk."""
    if not 1 <= len(keyword) <= 79:
        raise ValueError("a PNG text keyword has 1 to 79 characters")
    chunks = [c for c in _chunks(png) if _text_keyword(*c) != keyword]
    itxt = b"".join(
        [
            keyword.encode("latin-1"),
            b"\0",
            b"\0",
            b"\0",  # compression flag and method: uncompressed, as the baking spec requires
            b"\0",  # empty language tag
            b"\0",  # empty translated keyword
            assertion_json_or_url.encode("utf-8"),
        ]
    )
    out = [PNG_SIGNATURE]
    for kind, data in chunks:
        if kind == b"IEND":
            out.append(_chunk(b"iTXt", itxt))
        out.append(_chunk(kind, data))
    return b"".join(out)


def unbake_png(png: bytes, *, keyword: str = PNG_KEYWORD) -> str | None:
    """The first baked text under `keyword` (also legacy tEXt and compressed iTXt), or None."""
    for kind, data in _chunks(png):
        if _text_keyword(kind, data) != keyword:
            continue
        rest = data.split(b"\0", 1)[1]
        if kind == b"tEXt":
            return rest.decode("latin-1")
        compressed, _method, rest = rest[0], rest[1], rest[2:]
        _language, _translated, text = rest.split(b"\0", 2)
        return (zlib.decompress(text) if compressed else text).decode("utf-8")
    return None


# --- SVG -----------------------------------------------------------------------------------------

_ATTRS = r"""(?:[^>"']|"[^"]*"|'[^']*')*"""
_SVG_START = re.compile(rf"<svg\b({_ATTRS}?)(/?)>")
_OLD_ASSERTION = re.compile(
    rf"\s*<openbadges:assertion\b{_ATTRS}?(?:/>|>.*?</openbadges:assertion\s*>)", re.DOTALL
)


_NOT_IN_XML = re.compile("[\x00-\x1f\x7f\ufffe\uffff]")


def _url_attr(url: str) -> str:
    """The URL as an attribute value; characters XML cannot carry (or would normalise) are %-encoded."""
    url = _NOT_IN_XML.sub(lambda m: quote(m.group(), safe=""), url)
    return url.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def bake_svg(svg: str, assertion: dict[str, Any], verify_url: str) -> str:
    """`svg` with the assertion as first child of <svg>; an earlier baked assertion is replaced."""
    match = _SVG_START.search(svg)
    if match is None:
        raise ValueError("no <svg> element found")
    attrs, self_closing = match.group(1), match.group(2)
    if "xmlns:openbadges=" not in attrs:
        attrs += f' xmlns:openbadges="{SVG_NAMESPACE}"'
    # "]]>" may only occur inside JSON strings; its escaped form parses back to the same text.
    body = json.dumps(assertion, indent=2).replace("]]>", "]]\\u003e")
    element = (
        f'\n<openbadges:assertion verify="{_url_attr(verify_url)}"><![CDATA[\n{body}\n]]>'
        f"</openbadges:assertion>"
    )
    rest = svg[match.end() :]
    if self_closing:
        rest = "</svg>" + rest
    rest = _OLD_ASSERTION.sub("", rest, count=1)
    return f"{svg[: match.start()]}<svg{attrs}>{element}{rest}"


def unbake_svg(svg: str) -> str | None:
    """The baked assertion JSON, or the `verify` value when the tag has no body, or None."""
    tag = f"{{{SVG_NAMESPACE}}}assertion"
    try:
        root = ElementTree.fromstring(svg)
    except ElementTree.ParseError as error:
        raise ValueError(f"not well-formed SVG: {error}") from error
    for element in root.iter(tag):
        body = (element.text or "").strip()
        return body or element.get("verify")
    return None
