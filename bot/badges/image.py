"""A clean generated badge image for credentials that have none of their own.

A rosette in a colour derived from the name (so each credential looks distinct but stable), the
name over up to three lines and the issuer beneath. SVG for the web, PNG for baking and for
platforms that do not show SVG. Pillow's bundled default font only, so nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import io
import math
import textwrap
from collections.abc import Callable
from xml.sax.saxutils import escape, quoteattr

from PIL import Image, ImageDraw, ImageFont

_VIEW = 400  # the SVG's coordinate system; the PNG is drawn in the same one, scaled
_POINTS = 24  # rosette scallops
_MAX_LINES = 3


def _hue(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:2], "big") % 360


def _palette(name: str) -> dict[str, str]:
    h = _hue(name)
    return {
        "edge": f"hsl({h}, 50%, 28%)",
        "ring": f"hsl({h}, 60%, 95%)",
        "face": f"hsl({h}, 45%, 36%)",
        "text": "#ffffff",
        "ribbon": f"hsl({(h + 30) % 360}, 55%, 30%)",
    }


def _rosette(scale: float = 1.0) -> list[tuple[float, float]]:
    """Alternating outer and inner points around the centre: a scalloped seal."""
    c = _VIEW / 2 * scale
    points = []
    for i in range(_POINTS * 2):
        radius = (192 if i % 2 == 0 else 178) * scale
        angle = math.pi * i / _POINTS - math.pi / 2
        points.append((c + radius * math.cos(angle), c + radius * math.sin(angle)))
    return points


def _ellipsize(text: str, fits: Callable[[str], bool]) -> str:
    if fits(text):
        return text
    while text and not fits(text.rstrip() + "…"):
        text = text[:-1]
    return text.rstrip() + "…"


def _wrap_estimate(name: str) -> tuple[list[str], int]:
    """Lines and font size for SVG, where text cannot be measured: narrower columns, smaller type."""
    for width, size in ((12, 30), (16, 24), (20, 19), (24, 16)):
        lines = textwrap.wrap(name, width) or [""]
        if len(lines) <= _MAX_LINES:
            return lines, size
    last = _ellipsize(" ".join(lines[_MAX_LINES - 1 :]), lambda t: len(t) <= width)
    return [*lines[: _MAX_LINES - 1], last], size


def badge_svg(name: str, issuer: str) -> str:
    colours = _palette(name)
    lines, size = _wrap_estimate(name.strip())
    issuer_line = _ellipsize(issuer.strip(), lambda t: len(t) <= 26)
    c = _VIEW / 2
    line_height = size * 1.15
    top = c - 8 - line_height * (len(lines) - 1) / 2
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in _rosette())
    tspans = "".join(
        f'<tspan x="{c:g}" y="{top + i * line_height:.1f}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_VIEW} {_VIEW}" width="{_VIEW}" '
        f'height="{_VIEW}" role="img" aria-label={quoteattr(name)}>\n'
        f"<title>{escape(name)} — {escape(issuer)}</title>\n"
        f'<polygon points="{points}" fill="{colours["edge"]}"/>\n'
        f'<circle cx="{c:g}" cy="{c:g}" r="160" fill="{colours["ring"]}"/>\n'
        f'<circle cx="{c:g}" cy="{c:g}" r="148" fill="{colours["face"]}"/>\n'
        f'<path d="M{c - 16:g} 92 l10 10 l22 -22" fill="none" stroke="{colours["ring"]}" '
        f'stroke-width="7" stroke-linecap="round" stroke-linejoin="round"/>\n'
        f'<text font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-weight="bold" '
        f'font-size="{size}" fill="{colours["text"]}" text-anchor="middle" dominant-baseline="middle">'
        f"{tspans}</text>\n"
        f'<text x="{c:g}" y="{c + 96:g}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" '
        f'font-size="14" fill="{colours["ring"]}" text-anchor="middle" dominant-baseline="middle">'
        f"{escape(issuer_line)}</text>\n"
        "</svg>\n"
    )


def _font(size: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _wrap_measured(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
            continue
        while font.getlength(word) > width and len(word) > 1:  # a word wider than the face
            cut = len(word) - 1
            while cut > 1 and font.getlength(word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        lines.append(word)
    return lines or [""]


def badge_png(name: str, issuer: str, size: int = 400) -> bytes:
    scale = size * 2 / _VIEW  # drawn at twice the size, then downsampled: smooth edges without AA support
    colours = _palette(name)
    image = Image.new("RGBA", (round(_VIEW * scale), round(_VIEW * scale)), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    c = _VIEW / 2 * scale

    def circle(radius: float, fill: str) -> None:
        r = radius * scale
        draw.ellipse((c - r, c - r, c + r, c + r), fill=fill)

    draw.polygon(_rosette(scale), fill=colours["edge"])
    circle(160, colours["ring"])
    circle(148, colours["face"])
    tick = [(c - 16 * scale, 92 * scale), (c - 6 * scale, 102 * scale), (c + 16 * scale, 80 * scale)]
    draw.line(tick, fill=colours["ring"], width=round(7 * scale), joint="curve")

    text_width = 250 * scale
    for points in (30, 26, 22, 19, 16):
        font = _font(points * scale)
        lines = _wrap_measured(name.strip(), font, text_width)
        if len(lines) <= _MAX_LINES:
            break
    if len(lines) > _MAX_LINES:
        tail = " ".join(lines[_MAX_LINES - 1 :])
        lines = [*lines[: _MAX_LINES - 1], _ellipsize(tail, lambda t: font.getlength(t) <= text_width)]
    line_height = points * scale * 1.15
    top = c - 8 * scale - line_height * (len(lines) - 1) / 2
    for i, line in enumerate(lines):
        draw.text((c, top + i * line_height), line, font=font, fill=colours["text"], anchor="mm")
    small = _font(14 * scale)
    issuer_line = _ellipsize(issuer.strip(), lambda t: small.getlength(t) <= 230 * scale)
    draw.text((c, c + 96 * scale), issuer_line, font=small, fill=colours["ring"], anchor="mm")

    out = io.BytesIO()
    image.resize((size, size), Image.Resampling.LANCZOS).save(out, format="PNG", optimize=True)
    return out.getvalue()
