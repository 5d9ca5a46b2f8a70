"""The public badge page: what an employer sees when a learner shares a badge.

Everything shown is escaped; the earner appears by display name only, never by
e-mail. Open Graph and Twitter card tags make shares preview well.
"""

from __future__ import annotations

import re
from html import escape

from bot.badges.facts import BadgeFacts, Urls, iso_z
from bot.badges.share import ShareLinks

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7fb;color:#1d2433}
main{max-width:760px;margin:2rem auto;background:#fff;border-radius:16px;padding:2rem;
box-shadow:0 2px 12px rgba(0,0,0,.06)}
@media (max-width:820px){main{margin:1rem;padding:1.25rem}}
.top{display:flex;gap:2rem;align-items:center;flex-wrap:wrap}
.top img{width:200px;height:200px;flex:none}
.top>div{flex:1 1 280px;min-width:0}
h1{margin:.2rem 0;font-size:1.8rem;overflow-wrap:anywhere}
.status{display:inline-block;padding:.35rem .8rem;border-radius:10px;font-weight:600}
.gone .top img{filter:grayscale(1);opacity:.5}
.ok{background:#e3f6ea;color:#17653a}.revoked{background:#fde7e7;color:#a11a1a}
.share a{display:inline-block;margin:.25rem .4rem .25rem 0;padding:.45rem .8rem;border-radius:8px;
background:#1d3557;color:#fff;text-decoration:none}
textarea{box-sizing:border-box;width:100%;font-family:monospace;font-size:.85rem}
dt{font-weight:600;margin-top:.8rem}dd{margin:0}
"""


def badge_page(badge: BadgeFacts, urls: Urls, links: ShareLinks) -> str:
    name, issuer = escape(badge.credential.name), escape(badge.credential.issuer.name)
    earner = escape(badge.earner_name)
    title = f"Revoked: {earner}'s {name}" if badge.revoked else f"{earner} earned {name}"
    description = escape(f"{badge.credential.description} Issued by {badge.credential.issuer.name}.".strip())
    issued = badge.issued_at.strftime("%d %B %Y")
    if badge.revoked:
        revoked_on = badge.revoked_at.strftime("%d %B %Y") if badge.revoked_at else ""
        status = (
            f'<p class="status revoked">Revoked on {revoked_on}: '
            f"{escape(badge.revoked_reason or 'no reason given')}</p>"
            "<p>This badge is no longer valid. It is kept here so that links to it "
            "explain what happened.</p>"
        )
    else:
        status = (
            f'<p class="status ok">✓ Verified: issued by {issuer} on {issued}</p>'
            f'<p>Check it yourself: <a href="{escape(urls.assertion(badge.uid))}">Open Badges '
            f'2.0 assertion</a> · <a href="{escape(urls.credential_jwt(badge.uid))}">signed '
            "Open Badges 3.0 credential</a></p>"
        )
    evidence = "".join(
        f'<li><a href="{escape(link)}" rel="nofollow noopener">{escape(link)}</a></li>'
        for link in badge.evidence_links
    )
    reflection = (
        f"<dt>Reflection</dt><dd>{escape(badge.evidence_text)}</dd>" if badge.evidence_text.strip() else ""
    )
    share = (
        ""
        if badge.revoked
        else f"""
<section class="share"><h2>Share</h2>
<a href="{escape(links.add_to_linkedin)}">Add to LinkedIn profile</a>
<a href="{escape(links.linkedin)}">Share on LinkedIn</a>
<a href="{escape(links.x)}">Share on X</a>
<a href="{escape(links.facebook)}">Share on Facebook</a>
<a href="{escape(urls.badge_png(badge.uid))}" download>Download badge image (PNG)</a>
<a href="{escape(urls.badge_svg(badge.uid))}" download>Download badge image (SVG)</a>
<p>Embed on a website or blog:</p>
<textarea readonly rows="3" aria-label="Embed code">{escape(links.embed_html)}</textarea>
<p>For your backpack: <code>{escape(urls.assertion(badge.uid))}</code></p>
</section>"""
    )
    image = escape(urls.badge_png(badge.uid))
    page = escape(urls.page(badge.uid))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<meta name="description" content="{description}">
<meta property="og:type" content="website">
<meta property="og:title" content="{title}">
<meta property="og:description" content="{description}">
<meta property="og:image" content="{image}">
<meta property="og:url" content="{page}">
<meta name="twitter:card" content="summary">
<meta name="twitter:title" content="{title}">
<meta name="twitter:description" content="{description}">
<meta name="twitter:image" content="{image}">
<link rel="canonical" href="{page}">
<link rel="alternate" type="application/ld+json" href="{escape(urls.assertion(badge.uid))}">
<link rel="alternate" type="application/vc+jwt" href="{escape(urls.credential_jwt(badge.uid))}">
<style>{STYLE}</style></head>
<body><main{' class="gone"' if badge.revoked else ""}>
<div class="top"><img src="{image}" alt="{name} badge">
<div><p>{earner} earned</p><h1>{name}</h1><p>Issued by <a href="{escape(badge.credential.issuer.url)}">
{issuer}</a> on <time datetime="{iso_z(badge.issued_at)}">{issued}</time></p>
{status}</div></div>
<dl><dt>What it recognises</dt><dd>{escape(badge.credential.description)}</dd>
<dt>Criteria</dt><dd><a href="{escape(urls.criteria(badge.credential.slug))}">How this badge is
earned</a></dd>
<dt>Evidence</dt><dd><ul>{evidence}</ul></dd>{reflection}</dl>
{share}
</main></body></html>"""


def paragraphs(text: str) -> list[str]:
    """Hard-wrapped lines joined back; a numbered or bulleted line starts a new paragraph."""
    out: list[str] = []
    for line in (raw.strip() for raw in text.split("\n")):
        if not line:
            continue
        if out and not re.match(r"(\d+[.)]|[-*•])\s", line) and not out[-1].endswith(":"):
            out[-1] += " " + line
        else:
            out.append(line)
    return out


def criteria_page(name: str, issuer: str, description: str, criteria: str) -> str:
    paragraphs_html = "".join(f"<p>{escape(p)}</p>" for p in paragraphs(criteria))
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{escape(name)}: criteria</title><style>{STYLE}</style></head><body><main>
<h1>{escape(name)}</h1><p>Issued by {escape(issuer)}</p><p>{escape(description)}</p>
<h2>Criteria</h2>{paragraphs_html}</main></body></html>"""
