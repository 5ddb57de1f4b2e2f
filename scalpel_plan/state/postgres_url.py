"""A PostgreSQL URL as it may be shown (its password masked), and the password it holds."""

from __future__ import annotations

import urllib.parse

from scalpel_plan import masking


def masked_url(url: str) -> str:
    """``url`` as it may be shown: its password (in the login or the query) replaced."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc, query = parts.netloc, parts.query
        if "@" in netloc:
            login, host = netloc.rsplit("@", 1)
            if ":" in login:
                netloc = f"{login.split(':', 1)[0]}:***@{host}"
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        if any(k == "password" for k, _ in pairs):
            query = urllib.parse.urlencode([(k, "***" if k == "password" else v)
                                            for k, v in pairs], safe="*")
        return masking.mask(urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query)))
    except ValueError:
        return "(a PostgreSQL URL that cannot be parsed)"


def url_password(url: str) -> str | None:
    """The password ``url`` holds (decoded), in its login or as ``?password=``."""
    try:
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        login = urllib.parse.unquote(parts.password) if parts.password else None
        return login or query.get("password")
    except ValueError:
        return None
