"""Announcements: what slack, email and webhook nodes share.

A ``Message`` (``providers.message``) is what is said (a release, a failure, a rollback)
before a channel shapes it; an ``Announcer`` is a provider that sends one. The same ``send``
serves the release plan's announcement nodes and the failure alerts routed to them.

Sent once per release, at most: before sending, the node records "sending" in the journal; a
send that failed is recorded so, and the next apply sends again; an apply killed mid-send
leaves "sending", and the next plan does not send again (it cannot know whether the message
went out, and a duplicate announcement cannot be taken back either): it warns that the
message may have gone out. ``once`` and ``send_once`` are that protocol, for every
announcement (the console's and a rollback's included).

A message names the release as released: its commit is the tagged one (the release commit,
known once ``git.commit`` ran: the plan carries ``${git.commit.sha}``, filled in at apply), and
its delivery id (``delivery_id``) is derived from the project, the release and the node, the
same on every retry and every apply.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar, Literal

from pydantic import Field

from scalpel_plan.providers.base import (
    RELEASE_COMMIT_SHA,
    RELEASE_COMMIT_SHORT,
    Attributes,
    Change,
    Node,
    Provider,
    Release,
    StepContext,
    fill,
    is_reference,
)
from scalpel_plan.providers.message import Message
from scalpel_plan.spec.model import NodeConfig

Event = Literal["success", "failure", "rollback"]
HIGHLIGHTS = 12  # changelog entries shown in an announcement; the rest are counted
DELIVERY_NAMESPACE = uuid.UUID("6f1d7c52-9f0e-4b8e-9a55-2b1f4c0e5d11")


class AnnounceConfig(NodeConfig):
    templates = ("links",)
    on: list[Event] = Field(default_factory=lambda: list[Event](["success"]), description=(
        "success: announce the release (a node in the plan); failure: receive failure alerts "
        "(see `alerts`); rollback: announce a rollback"))
    links: dict[str, str] = Field(default_factory=dict, description=(
        "More buttons or links (the GitHub release and the PyPI page are linked already): "
        "label → URL template with {project} {version} {tag} {commit}"))


def announced(release: Release) -> Release:
    """``release`` as its announcements name it: its commit is the tagged one (the release
    commit's ``${git.commit.sha}`` while it is not made yet)."""
    return replace(release, commit=release.tagged)


def short(commit: str) -> str:
    """A commit as a message shows it: 12 hex digits (the release commit's reference, to be
    filled in at apply, while it is not made yet)."""
    return RELEASE_COMMIT_SHORT if commit == RELEASE_COMMIT_SHA else commit[:12]


def with_commit(value: Any, sha: str) -> Any:
    """``value`` (a message, its text) with the release commit, known now, in place of its
    references (whole, or its first 12 digits)."""
    if isinstance(value, str):
        return value.replace(RELEASE_COMMIT_SHORT, sha[:12]).replace(RELEASE_COMMIT_SHA, sha)
    if isinstance(value, dict):
        return {k: with_commit(v, sha) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [with_commit(v, sha) for v in value]
    return value


def settled(after: Attributes) -> Attributes:
    """An announcement's attributes at apply: the commit its ``commit`` attribute resolved to
    (apply fills in ``${git.commit.sha}``) written into its message."""
    commit = after.get("commit")
    if not isinstance(commit, str) or is_reference(commit) or "message" not in after:
        return after
    return {**after, "message": with_commit(after["message"], commit)}


def release_message(release: Release, links: dict[str, str], *, where: str) -> Message:
    """The announcement of ``release``: its title, the changelog's highlights, its links; the
    commit it names is the tagged one."""
    release = announced(release)
    title = f"{release.project} {release.version} released"
    facts = [("Version", release.version), ("Previous", release.previous or "none"),
             ("Tag", release.tag), ("Commit", short(release.commit))]
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
        return {"release": release.version, "commit": release.tagged, **self.target(config),
                "message": message.to_dict()}

    def diff(self, node: Node, desired: Attributes, recorded: Attributes | None,
             observed: Attributes | None) -> Change:
        return once(self, node, desired, recorded)

    def by_hand(self, address: str, current: Attributes) -> str | None:
        return (f"the announcement of {current.get('release')} went out and cannot be taken "
                "back; nodes with `on: [rollback]` announce the rollback")

    def apply(self, change: Change, ctx: StepContext) -> Attributes:
        after = settled(change.after)
        message = Message.from_dict(after["message"]).masked()
        sent = send_once(after, ctx, lambda: self.send(change.address, after, message,
                                                       ctx.secrets))
        return {**{k: v for k, v in after.items() if k != "message"}, **sent}


def once(provider: Provider, node: Node, desired: Attributes, recorded: Attributes | None,
         unknown: tuple[str, ...] = ("status",)) -> Change:
    """An announcement's change: sent already for this release (a no-op), interrupted while
    sending (a no-op with a warning: it may have gone out), or to send (a create; ``unknown``:
    the attributes the plan shows as known after apply)."""
    if recorded and recorded.get("release") == desired["release"]:
        status = recorded.get("status", "sent")
        if status not in ("sending", "failed"):
            return provider.change(node, "no-op", before=recorded, after=recorded,
                                   reason=f"already announced {desired['release']}")
        if status == "sending":
            change = provider.change(node, "no-op", before=recorded, after=recorded,
                                     reason="interrupted while sending")
            return change.model_copy(update={"warning": (
                f"an apply was stopped while sending this for {desired['release']}; it "
                "may have gone out, and it is never sent twice: check the channel and "
                "send it by hand if it did not arrive")})
    return provider.change(node, "create", after=desired, unknown=list(unknown))


def send_once(after: Attributes, ctx: StepContext,
              send: Callable[[], Attributes]) -> Attributes:
    """``send`` under the once-per-release protocol: "sending" is journaled (durably) before
    anything goes out; a send that raised is "failed" (it did not go out: the next apply sends
    again); an interrupt or a kill leaves "sending" (its outcome is unknown: ``once`` warns and
    never sends again). Returns what ``send`` returned, marked "sent"."""
    mark = {"release": after["release"]}
    ctx.record({**mark, "status": "sending"})
    try:
        sent = send()
    except Exception:  # (an interrupt leaves "sending": its outcome is unknown)
        ctx.record({**mark, "status": "failed"})
        raise
    return {**mark, **sent, "status": "sent"}


def delivery_id(address: str, target: Attributes, message: Message) -> str:
    """The id of one announcement: derived from the project, the release (or the rollback) and
    the node, so that it is the same on every retry and every apply; an alert's, from what it
    says."""
    release = target.get("release")
    if release:
        key = f"{message.data.get('project', '')}\n{release}\n{address}"
    else:
        key = f"{address}\n{json.dumps(message.data, sort_keys=True, default=str)}"
    return str(uuid.uuid5(DELIVERY_NAMESPACE, key))


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
