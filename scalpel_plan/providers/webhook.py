"""webhook: a JSON release summary POSTed once per release, signed with HMAC-SHA256 when a
secret is given (header `X-Scalpel-Signature-256: sha256=<hex>` over the exact body).

Each delivery carries `X-Scalpel-Delivery`, the same on every retry, so a receiver can drop
duplicates; that makes retrying on 429 and 5xx safe.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import ClassVar

from pydantic import Field

from scalpel_plan.http import Http
from scalpel_plan.providers.base import Attributes, Change, Node, Provider, Release, StepContext
from scalpel_plan.release.secrets import REFERENCE
from scalpel_plan.spec.model import NodeConfig, SecretRef

SIGNATURE_HEADER = "X-Scalpel-Signature-256"
DELIVERY_HEADER = "X-Scalpel-Delivery"


class WebhookConfig(NodeConfig):
    url: str = Field(description="The endpoint; put a secret URL in a secret: ${secrets.NAME}")
    secret: SecretRef | None = Field(None, description="HMAC-SHA256 key, "
                                     "e.g. ${secrets.hook_key}")
    headers: dict[str, str] = Field(default_factory=dict)


class WebhookProvider(Provider):
    name = "webhook"
    config_model: ClassVar[type[WebhookConfig]] = WebhookConfig
    reversible = False  # a delivered message cannot be taken back

    def desired(self, node: Node, release: Release) -> Attributes:
        config = node.config
        assert isinstance(config, WebhookConfig)
        summary = {"project": release.project, "version": release.version,
                   "previous": release.previous, "tag": release.tag, "commit": release.commit}
        if release.changelog:
            summary["changelog"] = release.changelog
        return {"release": release.version, "url": config.url, "signed": bool(config.secret),
                "secret": config.secret, "headers": dict(config.headers), "payload": summary}

    def diff(self, node: Node, desired: Attributes, recorded: Attributes | None,
             observed: Attributes | None) -> Change:
        done = self.done_for_release(node, desired, recorded,
                                     f"already delivered for {desired['release']}")
        return done or self.change(node, "create", after=desired, unknown=["status"])

    def apply(self, change: Change, ctx: StepContext) -> Attributes:
        after = change.after
        body = json.dumps(after["payload"], separators=(",", ":"), sort_keys=True).encode()
        delivery = str(uuid.uuid4())
        headers = {**ctx.secrets.resolve(after["headers"]), "Content-Type": "application/json",
                   DELIVERY_HEADER: delivery, "User-Agent": "scalpel"}
        if after.get("secret"):
            key = ctx.secrets.resolve(after["secret"]).encode()
            digest = hmac.new(key, body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        secret_names = REFERENCE.findall(after["url"])
        http = Http(f"webhook {change.address}", secret_names[0] if secret_names else None)
        try:
            response = http.request("POST", ctx.secrets.resolve(after["url"]), content=body,
                                    headers=headers, idempotent=True)  # deduped by delivery id
        finally:
            http.close()
        return {"release": after["release"], "url": after["url"], "signed": after["signed"],
                "status": response.status_code, "delivery": delivery}
