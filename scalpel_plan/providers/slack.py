"""slack: a Block Kit message through an incoming webhook, once per release.

The message: a header (the version), the changelog's highlights, the release's facts, a button
per link, and a context line. The webhook URL is a secret (it is the credential); without one,
``$SLACK_WEBHOOK`` is used. Slack answers 429 with Retry-After (honoured) and documents that a
5xx means the message was not posted, so both are retried; a connection lost after sending is
not (the message may be in the channel).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from scalpel_plan.http import Http
from scalpel_plan.providers.announce import AnnounceConfig, Announcer, cut, slack_mrkdwn
from scalpel_plan.providers.base import Attributes
from scalpel_plan.providers.message import Message
from scalpel_plan.secrets import SecretsManager
from scalpel_plan.spec.model import SecretRef

DEFAULT_ENV = "SLACK_WEBHOOK"
# Block Kit limits: header text 150, section text 3000, ≤ 10 fields, ≤ 25 action elements
HEADER_LIMIT, SECTION_LIMIT, FIELDS_LIMIT, ACTIONS_LIMIT = 150, 3000, 10, 25


class SlackConfig(AnnounceConfig):
    webhook: SecretRef | None = Field(None, description="The incoming webhook URL, as a secret "
                                      "(default: $SLACK_WEBHOOK)")
    channel: str | None = Field(None, description="Override the webhook's channel, if allowed")
    username: str | None = None
    icon_emoji: str | None = None


class SlackProvider(Announcer):
    name = "slack"
    spec_bound = ("webhook", "channel", "username", "icon_emoji")
    config_model: ClassVar[type[SlackConfig]] = SlackConfig

    def target(self, config: AnnounceConfig) -> Attributes:
        assert isinstance(config, SlackConfig)
        extra = {k: v for k, v in (("channel", config.channel), ("username", config.username),
                                   ("icon_emoji", config.icon_emoji)) if v}
        return {"webhook": config.webhook, **extra}

    def send(self, address: str, target: Attributes, message: Message,
             secrets: SecretsManager) -> Attributes:
        url = secrets.credential(target["webhook"], DEFAULT_ENV)
        body = blocks(message)
        body.update({k: target[k] for k in ("channel", "username", "icon_emoji") if k in target})
        with Http(f"Slack webhook {address}",
                  secrets.credential_name(target["webhook"], DEFAULT_ENV)) as http:
            response = http.request("POST", url, json=body, idempotent=False,
                                    refused_if_5xx=True)
        return {"http_status": response.status_code}


def blocks(message: Message) -> dict[str, Any]:
    """The webhook body: Block Kit blocks, and ``text`` as the notification's fallback."""
    body: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(message.title, HEADER_LIMIT),
                                    "emoji": True}}]
    if message.text:
        body.append({"type": "section", "text": {
            "type": "mrkdwn", "text": cut(slack_mrkdwn(message.text), SECTION_LIMIT)}})
    if message.facts:
        body.append({"type": "section", "fields": [
            {"type": "mrkdwn", "text": cut(f"*{slack_mrkdwn(k)}*\n{slack_mrkdwn(v)}", 2000)}
            for k, v in message.facts[:FIELDS_LIMIT]]})
    if message.links:
        body.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": cut(label, 75)},
             "url": url} for label, url in message.links[:ACTIONS_LIMIT]]})
    body.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": "Sent by Scalpel"}]})
    return {"text": cut(message.title, SECTION_LIMIT), "blocks": body}
