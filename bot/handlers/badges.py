"""Issued badges: confirming where they go, announcing, listing, sharing, revoking; and what a
person tells the bot of themselves beside their badge address, their time zone.

Nothing of a learner's goes public without their say: a badge is celebrated in the cohort
channel only with autoshare on or their own "Share to #channel", and its reflection shows on
the public page and in the documents only after "Show my reflection" (`reflection_public`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot import markup
from bot.badges.share import ShareLinks
from bot.domain import BadgeState, UserError, format_time, short_id
from bot.grammar import ChannelRef
from bot.handlers.base import handles, require_coordinator
from bot.messages import Destination, Message, Reply
from bot.storage import Badge, Cohort, Enrolment, Member, Review, Submission
from bot.workflows.badges import (
    announce,
    celebrate,
    channel_name,
    cohort_of,
    links_for,
    record_badge,
    reflection_line,
    reflection_of,
    share_buttons,
    share_to_channel,
)
from bot.workflows.context import Context
from bot.workflows.lookups import by_id
from bot.workflows.members import tz_of, zone_name

COHORTS_SHOWN = 5  # cohorts named where a person's zone is unknown


def is_channel_of(ref: ChannelRef, cohort: Cohort) -> bool:
    """Does a typed #channel (or a button's #name) name the cohort's channel? By id (Slack's
    `<#C1|…>`) or by name (`#frl-spring`), in any case."""
    known = {(cohort.channel_id or "").lower(), (cohort.channel_name or "").lower()} - {""}
    return bool({ref.channel_id.lower(), ref.name.lower()} & known)


async def issue_waiting(ctx: Context, address: str) -> list[Badge]:
    """Badges that waited for the learner to confirm their address go out now."""
    waiting = list(
        await ctx.session.scalars(
            select(Badge).where(Badge.member_id == ctx.actor.id, Badge.state == BadgeState.AWAITING_ADDRESS)
        )
    )
    for badge in waiting:
        badge.state, badge.recipient_email = BadgeState.ISSUED, address
        review = await ctx.session.get_one(Review, badge.review_id)
        await announce(ctx, badge, ctx.actor, review)  # the address DM asked
    return waiting


async def my_badge(ctx: Context, badge_id: int) -> Badge:
    badge = await ctx.session.scalar(
        select(Badge).where(
            Badge.workspace_id == ctx.workspace.id, Badge.id == badge_id, Badge.state != BadgeState.CANCELLED
        )
    )
    if badge is None or badge.member_id != ctx.actor.id:
        raise UserError(f"You have no badge {short_id('B', badge_id)}.", "/badges")
    return badge


@handles("badges", "list")
async def list_badges(ctx: Context, args: dict[str, Any]) -> Reply:
    badges = list(
        await ctx.session.scalars(
            select(Badge)
            .where(
                Badge.workspace_id == ctx.workspace.id,
                Badge.member_id == ctx.actor.id,
                Badge.state != BadgeState.CANCELLED,
            )
            .order_by(Badge.issued_at)
        )
    )
    address = ctx.actor.badge_email or ctx.actor.email
    lines = []
    for badge in badges:
        if badge.state == BadgeState.AWAITING_ADDRESS:
            lines.append(
                f"• {short_id('B', badge.id)} {markup.bold(badge.credential.name)} — waiting for you to "
                "confirm your address: `/badges confirm`"
            )
            continue
        state = (
            " (replaced by a corrected badge)"
            if badge.replaced_by
            else " (revoked)"
            if badge.revoked_at
            else ""
        )
        lines.append(
            f"• {short_id('B', badge.id)} {markup.bold(badge.credential.name)}{state}, issued "
            f"{markup.time(badge.issued_at, ctx.tz)} — {links_for(ctx, badge).page}"
        )
    head = (
        markup.bold("Your badges")
        if badges
        else "You have no badges yet; they arrive when an assessor approves a submission."
    )
    confirmed = "confirmed" if ctx.actor.badge_email_confirmed else "not confirmed yet"
    footer = (
        f"Badges are issued to {address or 'no address yet'} ({confirmed}; change it with "
        "`/badges email you@school.org`). "
        f"Auto-share is {'on' if ctx.actor.autoshare else 'off'}."
    )
    return Reply.text("\n".join([head, *lines, footer]))


@handles("badges", "share")
async def share(ctx: Context, args: dict[str, Any]) -> Reply:
    """Share options only the learner sees; with the cohort's #channel, the celebration there."""
    badge = await my_badge(ctx, args["badge"])
    bid = short_id("B", badge.id)
    if badge.revoked_at:
        raise UserError(f"{bid} was revoked, so it can't be shared.", "/badges")
    if badge.state != BadgeState.ISSUED:
        raise UserError(f"{bid} is waiting for you to confirm your address.", "/badges confirm")
    links = links_for(ctx, badge)
    cohort = await cohort_of(ctx, badge)
    if args["channel"] is not None:
        return await share_in_channel(ctx, badge, cohort, args["channel"], links)
    lines = [
        f"Share {markup.bold(badge.credential.name)} ({bid}): {links.page}",
        f"Embed: `{links.embed_html}`",
        f"For your backpack: {links.assertion}",
    ]
    if await reflection_of(ctx, badge):
        lines.append(reflection_line(badge))
    if cohort.channel_id and badge.shared_at is not None:
        lines.append(
            f"Celebrated in {markup.channel(cohort.channel_id)} on "
            f"{markup.time(badge.shared_at, ctx.tz_in(cohort))}."
        )
    elif cohort.channel_id:
        lines.append(
            f"Only you see this. Nothing is posted in {markup.channel(cohort.channel_id)} "
            f"unless you press {markup.bold(f'Share to #{channel_name(cohort)}')} (or type "
            f"`/badges share {bid} #{channel_name(cohort)}`)."
        )
    return Reply(Message("\n".join(lines), buttons=share_buttons(links) + share_to_channel(badge, cohort)))


async def share_in_channel(
    ctx: Context, badge: Badge, cohort: Cohort, ref: ChannelRef, links: ShareLinks
) -> Reply:
    bid = short_id("B", badge.id)
    if not cohort.channel_id:
        raise UserError(
            f"{cohort.name} has no channel to celebrate in; share your badge's page instead.",
            f"/badges share {bid}",
        )
    if not is_channel_of(ref, cohort):
        raise UserError(
            f"{bid} can be celebrated only in your cohort's channel, {markup.channel(cohort.channel_id)}.",
            f"/badges share {bid} #{channel_name(cohort)}",
        )
    if badge.shared_at is not None:
        return Reply.text(
            f"{bid} was already celebrated in {markup.channel(cohort.channel_id)} on "
            f"{markup.time(badge.shared_at, ctx.tz_in(cohort))}; I didn't post it again."
        )
    await celebrate(ctx, badge, ctx.actor, cohort, links)
    ctx.audit("badges.share", bid)
    return Reply.text(f"🎉 Celebrated {bid} in {markup.channel(cohort.channel_id)}.")


@handles("badges", "reflection")
async def reflection(ctx: Context, args: dict[str, Any]) -> Reply:
    """The learner's choice, any time, whether their reflection is public with the badge."""
    badge = await my_badge(ctx, args["badge"])
    bid = short_id("B", badge.id)
    if not await reflection_of(ctx, badge):
        raise UserError(
            f"{bid} was earned without a reflection; its public page shows your evidence links only.",
            f"/badges share {bid}",
        )
    was_public = badge.reflection_public
    badge.reflection_public = args["show"]
    ctx.audit("badges.reflection", bid, show=args["show"])
    page = links_for(ctx, badge).page
    if not args["show"]:
        return Reply.text(
            f"Your reflection is private: it is not on {bid}'s public page nor in its "
            f"Open Badges documents; your evidence links still are. "
            f"{'Show it again' if was_public else 'To show it'}: `/badges reflection {bid} show`."
        )
    where = (
        f"{bid}'s public page ({page})"
        if badge.state == BadgeState.ISSUED
        else f"{bid}'s public page once it is issued"
    )
    return Reply.text(
        f"Your reflection is shown on {where} and in its Open Badges documents. "
        f"Hide it any time: `/badges reflection {bid} hide`."
    )


@handles("badges", "autoshare")
async def autoshare(ctx: Context, args: dict[str, Any]) -> Reply:
    ctx.actor.autoshare = args["on"]
    ctx.audit("badges.autoshare", "on" if args["on"] else "off")
    if args["on"]:
        return Reply.text(
            "Auto-share is on: new badges are celebrated in your cohort channel as soon as they are issued."
        )
    return Reply.text("Auto-share is off: when you earn a badge I'll ask before sharing it.")


@handles("badges", "email")
async def email(ctx: Context, args: dict[str, Any]) -> Reply:
    ctx.actor.badge_email, ctx.actor.badge_email_confirmed = args["email"], True
    ctx.audit("badges.email", "")
    issued = await issue_waiting(ctx, args["email"])
    done = f" Issued {', '.join(short_id('B', b.id) for b in issued)} to it." if issued else ""
    return Reply.text(
        f"Your badges will be issued to {args['email']}.{done} Use the address you use "
        "on LinkedIn or in your backpack."
    )


@handles("badges", "timezone")
async def timezone(ctx: Context, args: dict[str, Any]) -> Reply:
    """Set, show or clear the actor's own zone (for anyone, on every platform: Discord tells the
    bot no one's). A zone they chose outlives their profile's; `auto` goes back to it."""
    if args["zone"] is not None:
        ctx.actor.tz, ctx.actor.tz_chosen = args["zone"], True
        ctx.audit("badges.timezone", "", zone=args["zone"])
        return Reply.text(
            f"Your time zone is now {zone_now(ctx, args['zone'])}. "
            "`/badges timezone auto` goes back to automatic."
        )
    if args["auto"]:
        was = ctx.actor.tz_chosen
        if was:
            profile = await ctx.directory.profile(ctx.actor.user_id)
            ctx.actor.tz, ctx.actor.tz_chosen = (profile.tz if profile else None), False
            ctx.audit("badges.timezone", "", zone="auto")
        head = "Done: I no longer use the zone you set." if was else "You haven't set a time zone."
        return Reply.text(f"{head} {await zone_in_use(ctx)}")
    return Reply.text(await zone_in_use(ctx))


def zone_now(ctx: Context, name: str) -> str:
    """`Europe/Berlin (it's Mon 2 Mar 2026, 16:00 CET there)`: a zone in words, with its clock,
    so the person sees at once whether it is theirs (a `markup.time` would show their device's)."""
    return f"{name} (it's {format_time(ctx.now, tz_of(name, ctx.settings))} there)"


async def zone_in_use(ctx: Context) -> str:
    """Which zone the actor's times are shown in, and where it comes from: theirs (chosen, or
    their profile's), else each of their cohorts' in its context and the default elsewhere."""
    if ctx.actor.tz is not None:
        source = (
            "which you set"
            if ctx.actor.tz_chosen
            else f"from your {ctx.workspace.platform.capitalize()} profile"
        )
        change = (
            "`/badges timezone auto` goes back to automatic."
            if ctx.actor.tz_chosen
            else "To use another, say `/badges timezone Europe/Berlin`."
        )
        return f"Your time zone is {zone_now(ctx, ctx.actor.tz)}, {source}. {change}"
    cohorts = list(
        await ctx.session.scalars(
            select(Cohort)
            .where(Cohort.id.in_(select(Enrolment.cohort_id).where(Enrolment.member_id == ctx.actor.id)))
            .order_by(Cohort.name)
        )
    )

    def its(cohort: Cohort) -> str:
        return zone_now(ctx, zone_name(None, ctx.settings, cohort.tz))

    if len(cohorts) == 1:
        where = f"In {cohorts[0].name} I use its zone, {its(cohorts[0])}; elsewhere"
    elif cohorts:
        more = f" and {len(cohorts) - COHORTS_SHOWN} more" if len(cohorts) > COHORTS_SHOWN else ""
        each = "; ".join(f"{c.name} {its(c)}" for c in cohorts[:COHORTS_SHOWN])
        where = f"In each of your cohorts I use its zone: {each}{more}; elsewhere"
    else:
        where = "I use"
    return (
        f"I don't know your time zone (your {ctx.workspace.platform.capitalize()} profile doesn't "
        f"tell me). {where} the default, {zone_now(ctx, zone_name(None, ctx.settings))}. Set yours "
        "with `/badges timezone Europe/Berlin` (a city or CET will do too)."
    )


@handles("badges", "confirm")
async def confirm(ctx: Context, args: dict[str, Any]) -> Reply:
    address = ctx.actor.badge_email or ctx.actor.email
    if not address:
        raise UserError(
            "I don't know your e-mail address; tell me where to issue your badges.",
            "/badges email you@school.org",
        )
    ctx.actor.badge_email, ctx.actor.badge_email_confirmed = address, True
    issued = await issue_waiting(ctx, address)
    ctx.audit("badges.confirm", "")
    what = (
        f"Issued {', '.join(short_id('B', b.id) for b in issued)} to {address}."
        if issued
        else f"Your badges will be issued to {address}."
    )
    return Reply.text(f"Confirmed. {what}")


async def coordinated_badge(ctx: Context, badge_id: int) -> Badge:
    badge = await by_id(ctx, Badge, badge_id, "B", "/badges revoke B-3 <reason>")
    await require_coordinator(ctx, await cohort_of(ctx, badge))
    if badge.state == BadgeState.CANCELLED:
        raise UserError(
            f"{short_id('B', badge.id)} was never issued: the approval it came from was "
            "corrected to a revision request."
        )
    if badge.revoked_at:
        raise UserError(
            f"{short_id('B', badge.id)} is already revoked ({badge.revoked_reason or 'no reason given'})."
        )
    return badge


@handles("badges", "revoke")
async def revoke(ctx: Context, args: dict[str, Any]) -> Reply:
    badge = await coordinated_badge(ctx, args["badge"])
    badge.revoked_at, badge.revoked_reason = ctx.now, args["reason"]
    learner = await ctx.session.get_one(Member, badge.member_id)
    await ctx.send(
        Destination.dm(learner.user_id),
        Message(
            f"Your badge {markup.bold(badge.credential.name)} ({short_id('B', badge.id)}) was revoked: "
            f"{args['reason']}. Ask your coordinator if you have questions."
        ),
        f"badge:{badge.id}:revoked",
        cohort=await cohort_of(ctx, badge),
    )
    ctx.audit(
        "badges.revoke",
        short_id("B", badge.id),
        reason=args["reason"],
        **({"note": args["note"]} if args.get("note") else {}),
    )
    note = (
        "Your private note is kept in the audit log only, never published."
        if args.get("note")
        else "(A private note for the audit log goes after ` -- `; it is never published.)"
    )
    return Reply.text(
        f"Revoked {short_id('B', badge.id)}. Its page, its Open Badges assertion "
        "(410 Gone) and the signed revocation list all say so now; it is kept, never "
        f"deleted. The reason is public: the learner and anyone checking the badge "
        f'read "{args["reason"]}". {note}'
    )


@handles("badges", "correct")
async def correct(ctx: Context, args: dict[str, Any]) -> Reply:
    """A badge issued to the wrong address is re-issued; the old one is revoked as replaced."""
    old = await coordinated_badge(ctx, args["badge"])
    if old.shared_at is not None:
        raise UserError(
            f"{short_id('B', old.id)} was already shared, so its address can't be "
            "corrected; revoke it and approve again instead.",
            f"/badges revoke {short_id('B', old.id)} issued to the wrong address",
        )
    new = await record_badge(
        ctx,
        submission=await ctx.session.get_one(Submission, old.submission_id),
        review_id=old.review_id,
        recipient_email=args["email"],
        state=BadgeState.ISSUED,
        issued_at=old.issued_at,
        reflection_public=old.reflection_public,
    )
    old.revoked_at, old.revoked_reason, old.replaced_by = ctx.now, "replaced", new.id
    learner = await ctx.session.get_one(Member, old.member_id)
    await announce(ctx, new, learner)
    ctx.audit("badges.correct", short_id("B", old.id), new=short_id("B", new.id))
    return Reply.text(
        f"Re-issued {short_id('B', old.id)} as {short_id('B', new.id)} to "
        f"{args['email']}; {short_id('B', old.id)} is revoked as replaced."
    )
