"""email: the release announced by SMTP, once per release, as multipart text and HTML.

STARTTLS (port 587, the default) or implicit TLS (port 465), certificate checked (``ca_file``
adds a private CA); login when a username is given, the password from a declared secret
(default ``$SMTP_PASSWORD``). To and Cc are headers; Bcc recipients are only on the envelope.
The Message-ID is derived from the project, the release and the node (as the webhook's delivery
id): a message sent again after an unknown outcome is the same message to mail clients.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from scalpel_plan.errors import ProviderError
from scalpel_plan.providers.announce import (
    AnnounceConfig,
    Announcer,
    delivery_id,
    markdown_html,
)
from scalpel_plan.providers.base import Attributes
from scalpel_plan.providers.message import Message
from scalpel_plan.secrets import SecretsManager
from scalpel_plan.spec.model import SecretRef

if TYPE_CHECKING:  # smtplib, ssl and email are imported when a message is sent
    import smtplib
    from email.message import EmailMessage

DEFAULT_PASSWORD = "SMTP_PASSWORD"
PORTS = {"starttls": 587, "tls": 465, "none": 25}
EmailAddress = str


class EmailConfig(AnnounceConfig):
    host: str = Field(description="The SMTP server")
    port: int | None = Field(None, description="Default: 587 (starttls), 465 (tls), 25 (none)")
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls, implicit tls, or none (a local relay only)")
    username: str | None = Field(None, description="Log in as this user (a name or a secret)")
    password: SecretRef | None = Field(None, description="Default: $SMTP_PASSWORD")
    sender: EmailAddress = Field(alias="from", description="The From address")
    to: list[EmailAddress] = Field(min_length=1)
    cc: list[EmailAddress] = Field(default_factory=list)
    bcc: list[EmailAddress] = Field(default_factory=list)
    ca_file: str | None = Field(None, description="A CA bundle that signs the server's "
                                "certificate (a private relay)")
    timeout: float | None = Field(30.0, gt=0)


class EmailProvider(Announcer):
    name = "email"
    spec_bound = ("host", "port", "security", "username", "password", "from", "to", "cc",
                  "bcc", "ca_file", "timeout")
    config_model: ClassVar[type[EmailConfig]] = EmailConfig

    def target(self, config: AnnounceConfig) -> Attributes:
        assert isinstance(config, EmailConfig)
        return {"host": config.host, "port": config.port or PORTS[config.security],
                "security": config.security, "username": config.username,
                "password": config.password, "from": config.sender, "to": list(config.to),
                "cc": list(config.cc), "bcc": list(config.bcc), "ca_file": config.ca_file,
                "timeout": config.timeout}

    def send(self, address: str, target: Attributes, message: Message,
             secrets: SecretsManager) -> Attributes:
        import smtplib
        import ssl

        email = compose(target, message, delivery_id(address, target, message))
        recipients = [*target["to"], *target["cc"], *target["bcc"]]
        where = f"{address}: SMTP server {target['host']}:{target['port']}"
        if target["ca_file"] and not Path(target["ca_file"]).is_file():
            raise ProviderError(f"{address}: ca_file {target['ca_file']} is not a file",
                                hint="point ca_file at the PEM bundle of the server's CA")
        try:
            with _connect(target) as smtp:
                if target["username"]:
                    smtp.login(secrets.resolve(target["username"]),
                               secrets.credential(target["password"], DEFAULT_PASSWORD))
                refused = smtp.send_message(email, to_addrs=recipients)
        except smtplib.SMTPAuthenticationError as exc:
            name = secrets.credential_name(target["password"], DEFAULT_PASSWORD)
            raise ProviderError(f"{where} refused the login of {target['username']} "
                                f"({exc.smtp_code})", hint=f"check the secret {name}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise ProviderError(f"{where} refused every recipient: "
                                f"{', '.join(exc.recipients)}") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise ProviderError(f"{where}: {exc}",
                                hint="check `security` (starttls, tls) and `port`") from None
        except smtplib.SMTPException as exc:
            raise ProviderError(f"{where}: {exc}") from None
        except ssl.SSLError as exc:
            raise ProviderError(f"{where}: TLS failed: {exc.reason or exc}",
                                hint="set `ca_file` for a private CA, or check `security`"
                                ) from None
        except OSError as exc:
            raise ProviderError(f"{where}: cannot connect: {exc.strerror or exc}") from None
        if refused:
            raise ProviderError(f"{where} refused {', '.join(sorted(refused))}; the others "
                                "received it")
        return {"message_id": email["Message-ID"]}


def compose(target: Attributes, message: Message, delivery: str | None = None) -> EmailMessage:
    """The email: plain text (Markdown) and HTML alternatives; Bcc is never a header. Its
    Message-ID is ``delivery``'s (random without one)."""
    from email.headerregistry import Address
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    email = EmailMessage()
    email["Subject"] = message.title
    email["From"] = target["from"]
    email["To"] = ", ".join(target["to"])
    if target["cc"]:
        email["Cc"] = ", ".join(target["cc"])
    email["Date"] = formatdate(usegmt=True)
    domain = Address(addr_spec=target["from"]).domain or "scalpel.invalid"
    email["Message-ID"] = f"<scalpel.{delivery}@{domain}>" if delivery else \
        make_msgid("scalpel", domain=domain)
    facts = "\n".join(f"{k}: {v}" for k, v in message.facts)
    links = "\n".join(f"{label}: {url}" for label, url in message.links)
    text = "\n\n".join(part for part in (message.text, facts, links) if part)
    email.set_content(text + "\n")
    rows = "".join(f"<tr><th align='left'>{_escape(k)}</th><td>{_escape(v)}</td></tr>"
                   for k, v in message.facts)
    buttons = " · ".join(f"<a href='{_escape(url)}'>{_escape(label)}</a>"
                         for label, url in message.links)
    html = (f"<!doctype html><html><head><meta charset='utf-8'><title>{_escape(message.title)}"
            f"</title></head><body><h1>{_escape(message.title)}</h1>"
            f"{markdown_html(message.body)}<table>{rows}</table><p>{buttons}</p></body></html>")
    email.add_alternative(html, subtype="html")
    return email


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


@contextlib.contextmanager
def _connect(target: Attributes) -> Iterator[smtplib.SMTP]:
    import smtplib
    import ssl

    context = ssl.create_default_context(cafile=target["ca_file"])
    host, port, timeout = target["host"], target["port"], target["timeout"]
    if target["security"] == "tls":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if target["security"] == "starttls":
            smtp.starttls(context=context)
        yield smtp
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
