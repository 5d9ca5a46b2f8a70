"""Issued badges: announcing, listing, sharing, and where they are issued to."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select

from bot.badges.share import ShareLinks, share_links
from bot.domain import UserError, format_time, short_id
from bot.handlers.base import Context, handles
from bot.messages import Button, Destination, Message, Reply
from bot.storage import Badge, Cohort, Review, Submission


def links_for(ctx: Context, badge: Badge) -> ShareLinks:
    cred = badge.credential
    base = ctx.settings.public_base_url
    return share_links(base_url=base, uid=badge.uid, badge_id=short_id("B", badge.id),
                       name=cred.name, issuer=cred.issuer_name, issued_at=badge.issued_at,
                       image_url=f"{base.rstrip('/')}/badges/{badge.uid}/image.png")


def share_buttons(links: ShareLinks) -> tuple[Button, ...]:
    return (Button("View badge", url=links.page, style="primary"),
            Button("Add to LinkedIn profile", url=links.add_to_linkedin),
            Button("Share on LinkedIn", url=links.linkedin),
            Button("Share on X", url=links.x),
            Button("Share on Facebook", url=links.facebook))


def celebration(badge: Badge, member_user_id: str, links: ShareLinks) -> Message:
    return Message(f"🎉 <@{member_user_id}> earned *{badge.credential.name}*! "
                   f"Congratulations!", buttons=share_buttons(links),
                   context=short_id("B", badge.id))


async def issue_badge(ctx: Context, submission: Submission, review: Review) -> Badge:
    """Record the badge for an approval and tell the learner, in the same transaction."""
    learner = submission.member
    cohort = submission.window.cohort
    badge = Badge(uid=secrets.token_urlsafe(16), workspace_id=ctx.workspace.id,
                  member_id=learner.id, credential_id=submission.window.credential_id,
                  submission_id=submission.id, review_id=review.id,
                  recipient_email=learner.badge_email or learner.email, issued_at=ctx.now)
    ctx.session.add(badge)
    await ctx.session.flush()
    await ctx.session.refresh(badge, ["credential"])
    links = links_for(ctx, badge)
    lines = [f"🎉 Approved! You earned *{badge.credential.name}* ({short_id('B', badge.id)})."]
    if review.feedback:
        lines.append(f"*Feedback:* {review.feedback}")
    lines.append(f"Your badge: {links.page}")
    lines.append(f"Embed it: `{links.embed_html}`")
    lines.append(f"For your backpack: {links.assertion}")
    buttons = share_buttons(links)
    if learner.autoshare and cohort.channel_id:
        badge.shared_at = ctx.now
        await ctx.send(Destination.channel(cohort.channel_id),
                       celebration(badge, learner.user_id, links),
                       f"badge:{badge.id}:celebrate", cohort=cohort)
        lines.append(f"(Shared in <#{cohort.channel_id}>, as you asked with autoshare.)")
    elif cohort.channel_id:
        buttons += (Button(f"Share in #{cohort.channel_name}",
                           command=f"/badges share {short_id('B', badge.id)}"),)
    await ctx.send(Destination.dm(learner.user_id), Message("\n".join(lines), buttons=buttons),
                   f"badge:{badge.id}:issued", cohort=cohort)
    return badge


async def my_badge(ctx: Context, badge_id: int) -> Badge:
    badge = await ctx.session.scalar(select(Badge).where(
        Badge.workspace_id == ctx.workspace.id, Badge.id == badge_id))
    if badge is None or badge.member_id != ctx.actor.id:
        raise UserError(f"You have no badge {short_id('B', badge_id)}.", "/badges")
    return badge


@handles("badges", "list")
async def list_badges(ctx: Context, args: dict[str, Any]) -> Reply:
    badges = list(await ctx.session.scalars(select(Badge).where(
        Badge.workspace_id == ctx.workspace.id, Badge.member_id == ctx.actor.id)
        .order_by(Badge.issued_at)))
    address = ctx.actor.badge_email or ctx.actor.email
    lines = []
    for badge in badges:
        links = links_for(ctx, badge)
        state = " (revoked)" if badge.revoked_at else ""
        lines.append(f"• {short_id('B', badge.id)} *{badge.credential.name}*{state}, issued "
                     f"{format_time(badge.issued_at, ctx.tz)} — {links.page}")
    head = "*Your badges*" if badges else "You have no badges yet; they arrive when an assessor " \
                                          "approves a submission."
    footer = (f"Badges are issued to {address or 'no address yet'} "
              "(change it with `/badges email you@school.org`). "
              f"Auto-share is {'on' if ctx.actor.autoshare else 'off'}.")
    return Reply.text("\n".join([head, *lines, footer]))


@handles("badges", "share")
async def share(ctx: Context, args: dict[str, Any]) -> Reply:
    badge = await my_badge(ctx, args["badge"])
    if badge.revoked_at:
        raise UserError(f"{short_id('B', badge.id)} was revoked, so it can't be shared.")
    links = links_for(ctx, badge)
    submission = await ctx.session.get_one(Submission, badge.submission_id)
    cohort = await ctx.session.get_one(Cohort, submission.window.cohort_id)
    posted = ""
    if cohort.channel_id and badge.shared_at is None:
        badge.shared_at = ctx.now
        await ctx.send(Destination.channel(cohort.channel_id),
                       celebration(badge, ctx.actor.user_id, links),
                       f"badge:{badge.id}:celebrate", cohort=cohort)
        posted = f" Celebrated in <#{cohort.channel_id}>."
    return Reply(Message(f"Share *{badge.credential.name}* ({short_id('B', badge.id)}): "
                         f"{links.page}{posted}\nEmbed: `{links.embed_html}`",
                         buttons=share_buttons(links)))


@handles("badges", "autoshare")
async def autoshare(ctx: Context, args: dict[str, Any]) -> Reply:
    ctx.actor.autoshare = args["on"]
    ctx.audit("badges.autoshare", "on" if args["on"] else "off")
    if args["on"]:
        return Reply.text("Auto-share is on: new badges are celebrated in your cohort channel "
                          "as soon as they are issued.")
    return Reply.text("Auto-share is off: when you earn a badge I'll ask before sharing it.")


@handles("badges", "email")
async def email(ctx: Context, args: dict[str, Any]) -> Reply:
    ctx.actor.badge_email = args["email"]
    ctx.audit("badges.email", "")
    return Reply.text(f"Your next badges will be issued to {args['email']}. Use the address you "
                      "use on LinkedIn or in your backpack.")
