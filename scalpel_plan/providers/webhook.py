"""webhook: a release summary POSTed as JSON, once per release.

``format`` picks the shape: ``generic`` (Scalpel's own JSON, signed with HMAC-SHA256 in
`X-Scalpel-Signature-256: sha256=<hex>` over the exact body when a secret is given), or the
incoming-webhook shapes of ``discord`` (embeds), ``teams`` (an Adaptive Card, as Teams
workflows accept) and ``mattermost`` (Slack-compatible text and attachments).

Each delivery carries `X-Scalpel-Delivery`, derived from the project, the release and the node
(``announce.delivery_id``): the same for one release's message on every retry and every apply,
so a receiver can drop duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, ClassVar, Literal

from pydantic import Field

from scalpel_plan.http import Http
from scalpel_plan.providers.announce import AnnounceConfig, Announcer, cut, delivery_id
from scalpel_plan.providers.base import Attributes
from scalpel_plan.providers.message import Message
from scalpel_plan.secrets import REFERENCE, SecretsManager
from scalpel_plan.spec.model import SecretRef

SIGNATURE_HEADER = "X-Scalpel-Signature-256"
DELIVERY_HEADER = "X-Scalpel-Delivery"
Format = Literal["generic", "discord", "teams", "mattermost"]


class WebhookConfig(AnnounceConfig):
    url: str = Field(description="The endpoint; put a secret URL in a secret: ${secrets.NAME}")
    format: Format = Field("generic", description="generic JSON, or the discord, teams or "
                           "mattermost webhook shape")
    secret: SecretRef | None = Field(None, description="HMAC-SHA256 key, "
                                     "e.g. ${secrets.hook_key}")
    headers: dict[str, str] = Field(default_factory=dict)


class WebhookProvider(Announcer):
    name = "webhook"
    spec_bound = ("url", "format", "signed", "secret", "headers")
    config_model: ClassVar[type[WebhookConfig]] = WebhookConfig

    def target(self, config: AnnounceConfig) -> Attributes:
        assert isinstance(config, WebhookConfig)
        return {"url": config.url, "format": config.format, "signed": bool(config.secret),
                "secret": config.secret, "headers": dict(config.headers)}

    def send(self, address: str, target: Attributes, message: Message,
             secrets: SecretsManager) -> Attributes:
        body = json.dumps(payload(target.get("format", "generic"), message),
                          separators=(",", ":"), sort_keys=True).encode()
        delivery = delivery_id(address, target, message)
        headers = {**secrets.resolve(target.get("headers", {})),
                   "Content-Type": "application/json", DELIVERY_HEADER: delivery,
                   "User-Agent": "scalpel"}
        if target.get("secret"):
            key = secrets.resolve(target["secret"]).encode()
            headers[SIGNATURE_HEADER] = f"sha256={hmac.new(key, body, hashlib.sha256).hexdigest()}"
        names = REFERENCE.findall(target["url"])
        with Http(f"webhook {address}", names[0] if names else None) as http:
            response = http.request("POST", secrets.resolve(target["url"]), content=body,
                                    headers=headers, idempotent=True)  # deduped by delivery id
        return {"http_status": response.status_code, "delivery": delivery}


def payload(shape: str, message: Message) -> dict[str, Any]:
    """The JSON body of ``message`` in a webhook ``shape``."""
    return {"generic": _generic, "discord": _discord, "teams": _teams,
            "mattermost": _mattermost}[shape](message)


def _generic(message: Message) -> dict[str, Any]:
    return {"event": message.kind, "title": message.title, "severity": message.severity,
            **message.data, "highlights": message.text, "links": dict(message.links)}


def _discord(message: Message) -> dict[str, Any]:
    """Discord's execute-webhook body: one embed (title ≤ 256, description ≤ 4096,
    ≤ 25 fields, field values ≤ 1024)."""
    description = message.text
    if message.links:
        description += "\n\n" + " · ".join(f"[{label}]({url})" for label, url in message.links)
    embed: dict[str, Any] = {
        "title": cut(message.title, 256), "description": cut(description, 4096),
        "color": int(message.color, 16),
        "fields": [{"name": cut(k, 256), "value": cut(v or "-", 1024), "inline": True}
                   for k, v in message.facts[:25]],
    }
    if message.links:
        embed["url"] = message.links[0][1]
    return {"content": cut(message.title, 2000), "embeds": [embed],
            "allowed_mentions": {"parse": []}}  # a changelog never pings anyone


def _teams(message: Message) -> dict[str, Any]:
    """A Teams workflow webhook's message: an Adaptive Card attachment."""
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard", "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": message.title, "weight": "Bolder", "size": "Medium",
             "wrap": True, "color": "Attention" if message.severity != "info" else "Good"},
            {"type": "TextBlock", "text": message.text or " ", "wrap": True},
            {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in message.facts]},
        ],
        "actions": [{"type": "Action.OpenUrl", "title": label, "url": url}
                    for label, url in message.links],
    }
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
         "content": card}]}


def _mattermost(message: Message) -> dict[str, Any]:
    """Mattermost's incoming webhook: Markdown text and a Slack-style attachment."""
    links = " · ".join(f"[{label}]({url})" for label, url in message.links)
    return {"text": f"#### {message.title}", "attachments": [{
        "fallback": message.title, "color": f"#{message.color}", "text": message.text,
        "fields": [{"title": k, "value": v, "short": True} for k, v in message.facts],
        **({"footer": links} if links else {}),
    }]}
