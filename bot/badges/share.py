"""Share links for an issued badge: plain URLs any platform can show as buttons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import urlencode


@dataclass(frozen=True)
class ShareLinks:
    page: str
    add_to_linkedin: str
    linkedin: str
    x: str
    facebook: str
    embed_html: str
    assertion: str
    image: str


def share_links(
    *, base_url: str, uid: str, badge_id: str, name: str, issuer: str, issued_at: datetime, image_url: str
) -> ShareLinks:
    base = base_url.rstrip("/")
    page = f"{base}/badges/{uid}"
    add = "https://www.linkedin.com/profile/add?" + urlencode(
        {
            "startTask": "CERTIFICATION_NAME",
            "name": name,
            "organizationName": issuer,
            "issueYear": issued_at.year,
            "issueMonth": issued_at.month,
            "certUrl": page,
            "certId": badge_id,
        }
    )
    text = f"I earned the {name} badge from {issuer}!"
    embed = (
        f'<a href="{escape(page)}"><img src="{escape(image_url)}" alt="{escape(name)} badge" '
        f'width="160" height="160"></a>'
    )
    return ShareLinks(
        page=page,
        add_to_linkedin=add,
        linkedin="https://www.linkedin.com/sharing/share-offsite/?" + urlencode({"url": page}),
        x="https://twitter.com/intent/tweet?" + urlencode({"text": text, "url": page}),
        facebook="https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": page}),
        embed_html=embed,
        assertion=f"{base}/badges/{uid}/assertion.json",
        image=image_url,
    )
