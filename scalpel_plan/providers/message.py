"""The announcement message: what a release announcement, a rollback announcement and a
failure alert say, before a channel (Slack, email, a webhook, the console) shapes it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

MessageKind = Literal["release", "failure", "rollback"]


@dataclass(frozen=True)
class Message:
    """What an announcement or an alert says, in channel-neutral form."""

    kind: MessageKind
    title: str  # one line: "widgets 1.3.0 released"
    body: str  # Markdown: highlights of the changelog, or what failed and why
    facts: list[tuple[str, str]] = field(default_factory=list)  # ("Version", "1.3.0")
    links: list[tuple[str, str]] = field(default_factory=list)  # ("Release", url)
    data: dict[str, Any] = field(default_factory=dict)  # the JSON summary (generic webhook)
    severity: Literal["info", "warning", "error", "critical"] = "info"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(**{**data, "facts": [tuple(f) for f in data.get("facts", [])],
                      "links": [tuple(link) for link in data.get("links", [])]})

    def masked(self) -> Message:
        """This message with every secret value masked: what leaves Scalpel (a commit message
        quoting a token must not carry it into a chat channel)."""
        import json

        from scalpel_plan.masking import mask

        return Message.from_dict(json.loads(mask(json.dumps(self.to_dict()))))

    @property
    def text(self) -> str:
        """The body for channels that do not read HTML: Markdown with its HTML escapes
        (``&lt;`` from the changelog) turned back into characters."""
        import html

        return html.unescape(self.body)

    @property
    def color(self) -> str:
        """A hex colour for channels that show one: green, amber or red."""
        return {"info": "2EB67D", "warning": "ECB22E"}.get(self.severity, "E01E5A")
