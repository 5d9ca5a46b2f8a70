"""A badge issued for an approval, and announced: the learner's DM with every way to share it,
the question where it goes when they have not confirmed an address, and the cohort channel's
celebration only with their consent (autoshare, or their own "Share to #channel")."""

from __future__ import annotations

import secrets
from datetime import datetime

from bot import markup
from bot.badges.facts import Urls
from bot.badges.issuing import free_status_index, urls_for
from bot.badges.ob2 import new_salt
from bot.badges.share import ShareLinks, share_links
from bot.domain import BadgeState, short_id
from bot.messages import COMMAND_MAX, Button, Card, CardKind, Destination, Message
from bot.storage import Badge, Cohort, Member, Review, Submission, Version
from bot.workflows.context import Context
from bot.workflows.scores import scores_lines


def links_for(ctx: Context, badge: Badge) -> ShareLinks:
    urls: Urls = urls_for(ctx.settings)
    cred = badge.credential
    return share_links(
        base_url=urls.base_url,
        uid=badge.uid,
        badge_id=short_id("B", badge.id),
        name=cred.name,
        issuer=cred.issuer_name,
        issued_at=badge.issued_at,
        image_url=urls.badge_png(badge.uid),
    )


def share_buttons(links: ShareLinks, *, public: bool = False) -> tuple[Button, ...]:
    """Every way to share, for the learner; in the channel (`public`), the page and the shares
    anyone may post, not "Add to LinkedIn profile" (which would add it to the presser's own
    profile) nor the baked image (the learner's own copy)."""
    view = Button("View badge", url=links.page, style="primary")
    shares = (
        Button("Share on LinkedIn", url=links.linkedin),
        Button("Share on X", url=links.x),
        Button("Share on Facebook", url=links.facebook),
    )
    if public:
        return (view, *shares)
    return (
        view,
        Button("Add to LinkedIn profile", url=links.add_to_linkedin),
        *shares,
        Button("Download badge image", url=links.image),
    )


def badge_card(badge: Badge, links: ShareLinks | None = None) -> Card:
    """The badge as a card: its name, linked to its public page, its image beside it (once it
    is issued: before, there is neither)."""
    name = badge.credential.name
    if links is None:
        return Card(CardKind.CELEBRATION, name)
    return Card(CardKind.CELEBRATION, name, url=links.page, image=links.image)


def celebration(badge: Badge, member_user_id: str, links: ShareLinks) -> Message:
    return Message(
        f"🎉 {markup.mention(member_user_id)} earned {markup.bold(badge.credential.name)}! Congratulations!",
        buttons=share_buttons(links, public=True),
        context=short_id("B", badge.id),
        card=badge_card(badge, links),
    )


async def celebrate(ctx: Context, badge: Badge, learner: Member, cohort: Cohort, links: ShareLinks) -> None:
    """Post the badge in the cohort channel, with the learner's consent; once (the outbox key
    holds even when two presses of the button race)."""
    assert cohort.channel_id
    badge.shared_at = ctx.now
    await ctx.send(
        Destination.channel(cohort.channel_id),
        celebration(badge, learner.user_id, links),
        f"badge:{badge.id}:celebrate",
        cohort=cohort,
    )


def channel_name(cohort: Cohort) -> str:
    return cohort.channel_name or cohort.channel_id or ""


def share_to_channel(badge: Badge, cohort: Cohort) -> tuple[Button, ...]:
    """The learner's explicit "post it", while the badge was never posted. Its command names
    the channel as people know it, or by its id (short on every platform) where a long name
    would not fit a button; none fits only for an id no platform gives (then no button: the
    command can still be typed)."""
    if not cohort.channel_id or badge.shared_at is not None:
        return ()
    name = channel_name(cohort)
    commands = (f"/badges share {short_id('B', badge.id)} #{ref}" for ref in (name, cohort.channel_id))
    command = next((c for c in commands if len(c) <= COMMAND_MAX), None)
    return (Button(f"Share to #{name}"[:75], command=command),) if command else ()


async def reflection_of(ctx: Context, badge: Badge) -> str:
    """The reflection of the version the badge was earned with."""
    review = await ctx.session.get_one(Review, badge.review_id)
    version = await ctx.session.get_one(Version, review.version_id)
    return version.reflection.strip()


def reflection_line(badge: Badge) -> str:
    bid = short_id("B", badge.id)
    if badge.reflection_public:
        return (
            f"Your badge's public page shows your evidence links and your reflection "
            f"(hide it: `/badges reflection {bid} hide`)."
        )
    return (
        f"Your badge's public page shows your evidence links; your reflection stays private "
        f"unless you choose to show it (`/badges reflection {bid} show`)."
    )


def reflection_choice(badge: Badge) -> tuple[Button, ...]:
    bid = short_id("B", badge.id)
    return (
        Button("Show my reflection on the public page", command=f"/badges reflection {bid} show"),
        Button("Keep it private", command=f"/badges reflection {bid} hide"),
    )


async def cohort_of(ctx: Context, badge: Badge) -> Cohort:
    submission = await ctx.session.get_one(Submission, badge.submission_id)
    return submission.window.cohort


async def record_badge(
    ctx: Context,
    *,
    submission: Submission,
    review_id: int,
    recipient_email: str | None,
    state: str,
    issued_at: datetime,
    reflection_public: bool = False,
) -> Badge:
    """A new badge row, with what makes each badge its own: a uid for its permanent URLs, the
    salt its recipient is hashed with, and a free place in the revocation list."""
    badge = Badge(
        uid=secrets.token_urlsafe(16),
        workspace_id=ctx.workspace.id,
        member_id=submission.member_id,
        credential_id=submission.window.credential_id,
        submission_id=submission.id,
        review_id=review_id,
        recipient_email=recipient_email,
        state=state,
        salt=new_salt(),
        status_index=await free_status_index(ctx.session),
        issued_at=issued_at,
        reflection_public=reflection_public,
    )
    ctx.session.add(badge)
    await ctx.session.flush()
    await ctx.session.refresh(badge, ["credential"])
    return badge


async def issue_badge(ctx: Context, submission: Submission, review: Review, correction: str = "") -> Badge:
    """Record the badge for an approval. It goes out at once to a confirmed address;
    a learner's first badge waits until they confirm where it should go. `correction` opens
    the learner's message when the approval corrects a decision they were already told of."""
    learner = submission.member
    address = learner.badge_email or learner.email
    ready = bool(learner.badge_email_confirmed and address)
    badge = await record_badge(
        ctx,
        submission=submission,
        review_id=review.id,
        recipient_email=address,
        state=BadgeState.ISSUED if ready else BadgeState.AWAITING_ADDRESS,
        issued_at=ctx.now,
    )
    if ready:
        await announce(ctx, badge, learner, review, ask_reflection=True, correction=correction)
    else:
        await ask_for_address(ctx, badge, learner, address, review, correction=correction)
    return badge


def verdict(badge: Badge, review: Review | None) -> list[str]:
    """What the assessor said, as the learner reads it: each criterion judged, its level and
    comment (an approval judges none unless the assessor scored them), then the feedback."""
    if review is None:
        return []
    lines = scores_lines(review, badge.credential.rubric, judged_only=True)
    return lines + ([f"{markup.bold('Feedback:')} {review.feedback}"] if review.feedback else [])


async def ask_for_address(
    ctx: Context,
    badge: Badge,
    learner: Member,
    address: str | None,
    review: Review | None = None,
    correction: str = "",
) -> None:
    lines = [
        *filter(None, [correction]),
        f"🎉 Approved! You earned {markup.bold(badge.credential.name)} ({short_id('B', badge.id)}).",
        *verdict(badge, review),
    ]
    buttons: tuple[Button, ...]
    if address:
        lines.append(
            f"Before I issue it: your badge will be issued to {markup.bold(address)}. Use the address "
            "you use on LinkedIn or in your badge backpack, or the badge may not land there."
        )
        buttons = (
            Button(f"Issue it to {address}"[:75], command="/badges confirm", style="primary"),
            Button("Use another address", command="/badges email"),
        )
        lines.append("Another address? `/badges email you@school.org`")
    else:
        lines.append(
            "Where should I issue it? Tell me the address you use on LinkedIn or in your "
            "badge backpack: `/badges email you@school.org`"
        )
        buttons = ()
    if await reflection_of(ctx, badge):
        lines.append(reflection_line(badge))
        buttons += reflection_choice(badge)
    await ctx.send(
        Destination.dm(learner.user_id),
        Message("\n".join(lines), buttons=buttons, card=badge_card(badge)),
        f"badge:{badge.id}:address",
        cohort=await cohort_of(ctx, badge),
    )


async def announce(
    ctx: Context,
    badge: Badge,
    learner: Member,
    review: Review | None = None,
    ask_reflection: bool = False,
    correction: str = "",
) -> None:
    """The learner's DM with every way to share; a celebration when they consented. It asks
    whether to show the reflection unless the address step already did (`ask_reflection`)."""
    cohort = await cohort_of(ctx, badge)
    links = links_for(ctx, badge)
    lines = [
        *filter(None, [correction]),
        f"🎉 Approved! You earned {markup.bold(badge.credential.name)} ({short_id('B', badge.id)}), "
        f"issued to {badge.recipient_email}.",
        *verdict(badge, review),
    ]
    lines.append(f"Your badge: {links.page}")
    lines.append(f"Embed it on a website or blog: `{links.embed_html}`")
    lines.append(f"For your backpack (Open Badges): {links.assertion}")
    buttons = share_buttons(links)
    if await reflection_of(ctx, badge):
        lines.append(reflection_line(badge))
        buttons += reflection_choice(badge) if ask_reflection else ()
    if learner.autoshare and cohort.channel_id:
        await celebrate(ctx, badge, learner, cohort, links)
        lines.append(f"(Shared in {markup.channel(cohort.channel_id)}, as you asked with autoshare.)")
    elif cohort.channel_id:
        lines.append(
            f"Nothing is posted in {markup.channel(cohort.channel_id)} unless you press "
            f"{markup.bold(f'Share to #{channel_name(cohort)}')}."
        )
        buttons += share_to_channel(badge, cohort)
    await ctx.send(
        Destination.dm(learner.user_id),
        Message("\n".join(lines), buttons=buttons, card=badge_card(badge, links)),
        f"badge:{badge.id}:issued",
        cohort=cohort,
    )
    if ctx.settings.credly_enabled and badge.credential.credly_template_id and badge.recipient_email:
        from bot.badges.credly import credly_request, split_name

        first, last = split_name(learner.display_name)
        await ctx.send(
            Destination("credly", badge.uid),
            credly_request(
                badge.uid,
                template_id=badge.credential.credly_template_id,
                email=badge.recipient_email,
                first_name=first,
                last_name=last,
                issued_at=badge.issued_at,
            ),
            f"badge:{badge.id}:credly",
            cohort=cohort,
        )
