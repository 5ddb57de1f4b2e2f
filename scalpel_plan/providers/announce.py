"""Announcements: what slack, email and webhook nodes share.

A ``Message`` (``providers.message``) is what is said (a release, a failure, a rollback)
before a channel shapes it; an ``Announcer`` is a provider that sends one. The same ``send``
serves the release plan's announcement nodes and the failure alerts routed to them.

Sent once per release, at most: before sending, the node records "sending" in the journal; a
send that failed is recorded so, and the next apply sends again; an apply killed mid-send
leaves "sending", and the next plan does not send again (it cannot know whether the message
went out, and a duplicate announcement cannot be taken back either).
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field

from scalpel_plan.providers.base import (
    Attributes,
    Change,
    Node,
    Provider,
    Release,
    StepContext,
    fill,
)
from scalpel_plan.providers.message import Message
from scalpel_plan.spec.model import NodeConfig

Event = Literal["success", "failure", "rollback"]
HIGHLIGHTS = 12  # changelog entries shown in an announcement; the rest are counted


class AnnounceConfig(NodeConfig):
    on: list[Event] = Field(default_factory=lambda: list[Event](["success"]), description=(
        "success: announce the release (a node in the plan); failure: receive failure alerts "
        "(see `alerts`); rollback: announce a rollback"))
    links: dict[str, str] = Field(default_factory=dict, description=(
        "More buttons or links (the GitHub release and the PyPI page are linked already): "
        "label → URL template with {project} {version} {tag} {commit}"))


def release_message(release: Release, links: dict[str, str], *, where: str) -> Message:
    """The announcement of ``release``: its title, the changelog's highlights, its links."""
    title = f"{release.project} {release.version} released"
    facts = [("Version", release.version), ("Previous", release.previous or "none"),
             ("Tag", release.tag), ("Commit", release.commit[:12])]
    shown = [*release.links, *((label, fill(url, release, where=f"{where}.links.{label}"))
                               for label, url in links.items())]
    data = {"event": "release", "project": release.project, "version": release.version,
            "previous": release.previous, "tag": release.tag, "commit": release.commit}
    return Message("release", title, highlights(release.changelog or release.notes or ""),
                   facts, shown, data)


def highlights(section: str, limit: int = HIGHLIGHTS) -> str:
    """A changelog section without its version heading, cut to ``limit`` entries."""
    lines = section.strip().splitlines()
    if lines and lines[0].startswith("## "):
        lines = lines[1:]
    kept: list[str] = []
    entries = 0
    for line in lines:
        if line.startswith("- "):
            entries += 1
            if entries > limit:
                continue
        kept.append(line)
    if entries > limit:
        kept.append(f"\n…and {entries - limit} more in the changelog.")
    return "\n".join(kept).strip()


class Announcer(Provider):
    """A provider that sends a Message: subclasses say how (``send``) and to whom
    (``target``)."""

    config_model: ClassVar[type[AnnounceConfig]] = AnnounceConfig
    reversible = False  # a message that went out cannot be taken back
    announces = True

    def desired(self, node: Node, release: Release) -> Attributes:
        config = node.config
        assert isinstance(config, AnnounceConfig)
        message = release_message(release, config.links, where=node.address)
        return {"release": release.version, **self.target(config),
                "message": message.to_dict()}

    def diff(self, node: Node, desired: Attributes, recorded: Attributes | None,
             observed: Attributes | None) -> Change:
        if recorded and recorded.get("release") == desired["release"]:
            status = recorded.get("status", "sent")
            if status not in ("sending", "failed"):
                return self.change(node, "no-op", before=recorded, after=recorded,
                                   reason=f"already announced {desired['release']}")
            if status == "sending":
                change = self.change(node, "no-op", before=recorded, after=recorded,
                                     reason="interrupted while sending")
                return change.model_copy(update={"warning": (
                    f"an apply was stopped while sending this for {desired['release']}; it "
                    "may have gone out, and it is never sent twice: check the channel and "
                    "send it by hand if it did not arrive")})
        return self.change(node, "create", after=desired, unknown=["status"])

    def by_hand(self, address: str, current: Attributes) -> str | None:
        return (f"the announcement of {current.get('release')} went out and cannot be taken "
                "back; nodes with `on: [rollback]` announce the rollback")

    def apply(self, change: Change, ctx: StepContext) -> Attributes:
        after = change.after
        mark = {"release": after["release"]}
        ctx.record({**mark, "status": "sending"})
        try:
            sent = self.send(change.address, after, Message.from_dict(after["message"]).masked(),
                             ctx.secrets)
        except Exception:  # (an interrupt leaves "sending": its outcome is unknown)
            ctx.record({**mark, "status": "failed"})  # it did not go out: the next apply sends
            raise
        return {**mark, **{k: v for k, v in after.items() if k != "message"}, **sent,
                "status": "sent"}


def markdown_html(text: str) -> str:
    """Markdown as HTML (CommonMark; raw HTML in the text is escaped, never passed through)."""
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark", {"html": False}).render(text))


LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
BOLD = re.compile(r"\*\*([^*]+)\*\*")
HEADING = re.compile(r"^#{1,6}\s+(.*)$", re.MULTILINE)


def slack_mrkdwn(text: str) -> str:
    """Markdown as Slack's mrkdwn: &, < and > escaped, links <url|text>, bold *x*."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = LINK.sub(lambda m: f"<{m[2]}|{m[1]}>", text)
    text = BOLD.sub(r"*\1*", text)
    return HEADING.sub(r"*\1*", text)


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters (a channel's field limit), marked when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
