"""The mask: every spelling of a secret, base64 at every alignment and wrapped, multi-line
values line by line, URL secrets by their components, and text that comes in pieces."""

from __future__ import annotations

import base64
import html
import io
import json
import shlex
import textwrap
import urllib.parse

from hypothesis import given, settings
from hypothesis import strategies as st

from scalpel_plan import masking
from scalpel_plan.masking import MASK, ByteStreamMasker, StreamMasker, mask
from scalpel_plan.process import _copy_masked

VALUE = "tok_9f8e7d6c5b4a+3210/\"<|&'zz q"
PEM = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(
    textwrap.wrap(base64.b64encode(bytes(range(256)) * 2).decode(), 64)) + \
    "\n-----END PRIVATE KEY-----"
HOOK = "https://bot:hunter2pass@hooks.example.test/fail500/T0K3Nabcdef123456?sig=s1gnature99&x=1"


def markdown(value: str) -> str:
    return "".join("\\" + c if c in "\\`*_{}[]()#+-.!|<>" else c for c in value)


def spellings(value: str) -> dict[str, str]:
    return {"raw": value, "Markdown": markdown(value), "HTML": html.escape(value),
            "HTML (no quotes)": html.escape(value, quote=False),
            "Markdown then HTML": html.escape(markdown(value)),
            "JSON": json.dumps(value)[1:-1], "JSON (ASCII <>&)": json.dumps(value)[1:-1]
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"),
            "JSON of Markdown": json.dumps(markdown(value))[1:-1],
            "shell": shlex.quote(value), "URL": urllib.parse.quote(value, safe=""),
            "URL (path)": urllib.parse.quote(value), "URL (form)": urllib.parse.quote_plus(value)}


def base64_spellings(value: str) -> dict[str, str]:
    found = {}
    for prefix in ("", "a", "ab", "abc", "prefix+"):
        encoded = base64.b64encode((prefix + value + " and more").encode()).decode()
        found[f"base64 after {prefix!r}"] = encoded
        found[f"URL-safe base64 after {prefix!r}"] = base64.urlsafe_b64encode(
            (prefix + value).encode()).decode()
        for width in (76, 64, 5):
            for newline in ("\n", "\r\n"):
                found[f"base64 after {prefix!r} wrapped at {width} ({newline!r})"] = \
                    newline.join(textwrap.wrap(encoded, width))
    return found


def raw_parts(value: str) -> list[str]:
    """What must not survive: the value's alphanumeric runs of 6 or more."""
    import re

    return re.findall(r"[A-Za-z0-9]{6,}", value)


def test_every_spelling_of_a_secret_is_masked():
    masking.register(VALUE)
    for name, text in {**spellings(VALUE), **base64_spellings(VALUE)}.items():
        masked = mask(f"before {text} after")
        assert MASK in masked, name
        assert masked.startswith("before ") and masked.endswith(" after"), (name, masked)
        for part in raw_parts(VALUE):
            assert part not in masked, (name, masked)
        if "base64" in name:  # nothing that decodes to the value is left
            assert base64.b64encode(VALUE.encode()).decode()[4:-4] not in masked, name


def test_a_multi_line_secret_is_masked_whole_and_line_by_line():
    masking.register(PEM)
    lines = PEM.splitlines()
    # the armor lines are no secret: they stay (a certificate's header is no leak)
    armored = f"{lines[0]}\n{MASK}\n{lines[-1]}"
    assert mask(f"key:\n{PEM}\nend") == f"key:\n{armored}\nend"
    assert mask(PEM.replace("\n", "\r\n")) == armored.replace("\n", "\r\n")
    assert mask(json.dumps({"key": PEM})) == json.dumps({"key": armored})
    # printed one line at a time, or only some of them: every line on its own
    shown = mask("\n".join(f"line: {line}" for line in lines[3:7]))
    assert shown == "\n".join(f"line: {MASK}" for _ in lines[3:7])
    assert mask(lines[0]) == lines[0]
    encoded = base64.b64encode(f"apiVersion: v1\nkey: |\n{PEM}\n".encode()).decode()
    masked = mask("\n".join(textwrap.wrap(encoded, 76)))
    for line in lines[1:-1]:
        if len(line) >= 16:
            for offset in range(3):
                middle = base64.b64encode(b"\0" * offset + line.encode()).decode()[4:-4]
                assert middle not in masked.replace("\n", "")


def test_a_url_secret_is_masked_by_its_components():
    masking.register(HOOK)
    assert mask(f"POST {HOOK}") == f"POST {MASK}"
    echoed = "receiver error for /fail500/T0K3Nabcdef123456"
    assert mask(echoed) == f"receiver error for {MASK}"
    assert mask("token T0K3Nabcdef123456 refused") == f"token {MASK} refused"
    assert mask("password hunter2pass is wrong") == f"password {MASK} is wrong"
    assert mask("bad sig s1gnature99") == f"bad sig {MASK}"
    assert mask("https://bot:[redacted]@hooks.example.test/") == \
        "https://bot:[redacted]@hooks.example.test/"  # the host, the user, words stay
    assert mask("GET /fail500/ok and /hooks") == "GET /fail500/ok and /hooks"


def test_a_short_secret_is_masked_only_as_a_whole_word():
    masking.register("do")
    assert mask("documentation: do it, do.") == f"documentation: {MASK} it, {MASK}."


def test_ordinary_text_is_left_as_it_is():
    for value in (VALUE, PEM, HOOK):
        masking.register(value)
    text = "building wheel 2026-01-01T00:00:00Z {\"step\": 3} &amp; \\_ %2F ZmFrZQ==\n" * 3
    assert mask(text) == text


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_stream_in_any_pieces_is_masked_as_the_whole_text(data):
    masking.forget_all()
    for value in (VALUE, PEM, HOOK, "do"):
        masking.register(value)
    parts = data.draw(st.lists(st.sampled_from(
        [VALUE, PEM, HOOK, "do", " ", "\n", "x", "dodo", base64.b64encode(VALUE.encode())
         .decode(), html.escape(VALUE), "é", "\u20ac"]), max_size=12))
    text = "".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    stream = StreamMasker()
    assert "".join(stream.feed(p) for p in pieces) + stream.close() == mask(text)
    raw = text.encode()
    byte_cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=8)))
    chunks = [raw[a:b] for a, b in zip([0, *byte_cuts], [*byte_cuts, len(raw)], strict=True)]
    stream_bytes = ByteStreamMasker()
    assert b"".join(stream_bytes.feed(c) for c in chunks) + stream_bytes.close() == \
        mask(text).encode()


class _Pipe(io.RawIOBase):
    """A command's output as a pipe hands it over: in the pieces given."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    def read1(self, size: int = -1) -> bytes:
        return self.pieces.pop(0) if self.pieces else b""


def test_a_secret_cut_by_a_read_of_the_output_reaches_the_log_masked():
    masking.register(VALUE)
    line = b"x" * (65536 - 10) + VALUE.encode() + b" done\n"
    log = io.BytesIO()
    _copy_masked(_Pipe([line[:65536], line[65536:]]), log)  # type: ignore[arg-type]
    assert log.getvalue() == b"x" * (65536 - 10) + MASK.encode() + b" done\n"


def test_a_stage_printing_a_secret_across_64_kib_or_a_pem_key_line_by_line_logs_neither(
        repo, cli, monkeypatch):
    monkeypatch.setenv("TOKEN", VALUE)
    monkeypatch.setenv("KEY", PEM)
    # one write of 64 KiB - 10 bytes then the token: the pipe hands it over in two reads; the
    # key one line at a time, with pauses between (each line its own read)
    repo.write_spec("""
secrets:
  token: {env: TOKEN}
  key: {env: KEY}
stages:
  leak:
    run: >-
      python3 -c "import os, sys; sys.stdout.write('x' * (65536 - 10) + os.environ['TOKEN']
      + ' done' + chr(10))";
      printf '%s\\n' "$KEY" | while IFS= read -r line; do echo "$line"; sleep 0.02; done;
      printf '%s' "$KEY" | base64
    secrets: [token, key]
""")
    result = cli(repo.path, "apply", "--auto-approve")
    assert result.code == 0, result.err
    log = next((repo.path / ".scalpel" / "logs").rglob("stage.leak.log")).read_text()
    assert log.startswith("x" * (65536 - 10) + f"{MASK} done\n")
    for part in raw_parts(VALUE) + [line for line in PEM.splitlines()[1:-1] if len(line) > 8]:
        assert part not in log
    assert base64.b64encode(PEM.encode()).decode()[100:140] not in log.replace("\n", "")
    assert log.count(MASK) >= 2


ANY_CHAR = st.sampled_from("abcXYZ0189!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ é€\n")
SECRETS = st.tuples(st.text(ANY_CHAR, max_size=16),
                    st.text(st.sampled_from("abcXYZ0189"), min_size=8, max_size=12),
                    st.text(ANY_CHAR, max_size=16)).map(lambda t: "".join(t).strip())


@settings(max_examples=40, deadline=None)
@given(value=SECRETS)
def test_any_secret_is_masked_in_every_spelling(value):
    masking.forget_all()
    masking.register(value)
    for name, text in {**spellings(value), **base64_spellings(value)}.items():
        masked = mask(f"before {text} after")
        assert MASK in masked, (name, masked)
        assert not [p for p in raw_parts(value) if p in masked.replace("before", "")
                    .replace("after", "")], (name, masked)
