"""The one mask every output goes through: terminal, logs, stage logs, journal, state, plan
files, alerts, incident reports, crash logs, and whatever leaves the machine.

The secrets manager registers each value it loads; every writer calls ``mask`` (or wraps its
stream in ``MaskedStream``; a reader of chunks feeds them to a ``StreamMasker``). A value is
masked in every form it may take in an output:

- as written, and escaped as Markdown (a backslash before punctuation), HTML (``&lt;``,
  ``&amp;``, ``&#x27;``, ``&quot;`` ...), JSON (``\\"``, ``\\u003c``), a shell
  (``shlex.quote``'s ``'"'"'``) or a URL (``%2F``, ``+``), or any mix of these;
- base64-encoded, alone or inside a longer text (the stable middle of each of the three
  alignments), standard or URL-safe, wrapped at any column (76, 64: line breaks inside);
- a multi-line value (a PEM key) whole but for its armor lines (``-----BEGIN ...-----`` is
  no secret), and each of its lines of 16 characters or more on its own;
- a URL by its components too: its password, its path and the token-like segments in it,
  its token-like query values (so that a server echoing the path it was called at is masked).

A short value is masked only where it stands alone, never inside an ordinary word (no
"[secret]cumentation" for a value "do"). All the forms of all the values are one compiled
pattern, a trie of the forms, each entered at its first capital letter (the few letters before
it are checked, and masked, after a match), so that the regex engine passes over most of a
text at once and the cost of masking barely grows with the number of forms
(``benchmarks/masking.py``).
"""

from __future__ import annotations

import base64
import codecs
import html
import json
import re
import shlex
import string
import threading
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import IO

MASK = "[secret]"
SHORT = 8  # values shorter than this are masked only as whole words
PART = 8  # a part of a value (a base64 middle, a URL component) is masked from this length
LINE = 16  # each line of a multi-line value this long is masked on its own

_PUNCTUATION = frozenset(string.punctuation)
_ENTITIES = {"<": ("&lt;",), ">": ("&gt;",), "&": ("&amp;",), '"': ("&quot;",),
             "'": ("&apos;",)}
_SHELL = {"'": ("'\"'\"'", "'\\''")}
_NEWLINES = {"\n": ("\r\n", "\\n", "\\r\\n"), "\r": ("\\r",), "\t": ("\\t",)}
_ARMOR = re.compile(r"-----(BEGIN|END) [A-Z0-9 ]+-----")
_BREAK = r"\r?\n?"  # base64 wrapped at any column


class _Atom:
    """One character of a form as a regex: every way an output may write it."""

    __slots__ = ("longest", "regex", "spellings")

    def __init__(self, regex: str, spellings: list[str]) -> None:
        self.regex = regex
        self.spellings = spellings  # the literal texts it matches (at a form's start)
        self.longest = max(map(len, spellings))


def _spellings(char: str) -> list[str]:
    """Every way ``char`` may be written in an output, as literal texts (itself first)."""
    if char.isascii() and char.isalnum():
        return [char]
    code = ord(char)
    found = [char, *_ENTITIES.get(char, ()), *_SHELL.get(char, ()), *_NEWLINES.get(char, ()),
             f"&#{code};", f"&#x{code:x};", f"&#x{code:X};", f"&#x{code:02x};"]
    if code < 0x10000:
        found += [f"\\u{code:04x}", f"\\u{code:04X}"]
    utf8 = char.encode()
    found += ["".join(f"%{b:02X}" for b in utf8), "".join(f"%{b:02x}" for b in utf8)]
    if char == " ":
        found.append("+")
    # Markdown's backslash before punctuation, itself JSON-escaped maybe
    found += ["\\" * n + s for n in range(1, _escapes(char) + 1) for s in found]
    return list(dict.fromkeys(found))


def _escapes(char: str) -> int:
    """How many backslashes may come before ``char`` in an output: Markdown's one, doubled
    in JSON; a backslash itself Markdown-escaped, then JSON-escaped, is four."""
    return 3 if char == "\\" else 2 if char in _PUNCTUATION else 0


def _literal_trie(texts: list[str]) -> str:
    """A regex matching exactly ``texts`` (short literals), every branch literal-first."""
    ends = "" in texts
    by_first: dict[str, list[str]] = {}
    for text in texts:
        if text:
            by_first.setdefault(text[0], []).append(text[1:])
    branches = [re.escape(first) + _literal_trie(rests) for first, rests in by_first.items()]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 and not ends else "(?:" + "|".join(branches) + ")"
    return body + "?" if ends else body


def _hex(number: int, width: int) -> str:
    """``number`` in hexadecimal as a regex, in either case."""
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{number:0{width}x}")


def _spelling_regex(char: str) -> str:
    """``_spellings(char)`` as one compact regex (inside a form; at its start, where most
    positions of a text fail, the literal alternatives are used)."""
    if char.isascii() and char.isalnum():
        return char
    code = ord(char)
    named = [*_ENTITIES.get(char, ()), *_SHELL.get(char, ()), *_NEWLINES.get(char, ())]
    alternatives = [re.escape(char), *map(re.escape, named),
                    f"&#(?:{code}|[xX]0?{_hex(code, 1)});",
                    "".join(f"%{_hex(b, 2)}" for b in char.encode())]
    if code < 0x10000:
        alternatives.append(rf"\\u{_hex(code, 4)}")
    if char == " ":
        alternatives.append(r"\+")
    regex = "(?:" + "|".join(alternatives) + ")"
    return rf"\\{{0,{_escapes(char)}}}{regex}" if _escapes(char) else regex


def _text_atom(char: str) -> _Atom:
    return _Atom(_spelling_regex(char), _spellings(char))


# base64's punctuation: either alphabet (standard, URL-safe), %-encoded in a URL, \/ in JSON
_B64_PUNCTUATION = {"+": ["+", "-", "%2B", "%2b", "%2D", "%2d"],
                    "/": ["/", "\\/", "_", "%2F", "%2f", "%5F", "%5f"],
                    "=": ["=", "%3D", "%3d", "\\u003d", "\\u003D"]}


def _b64_atom(char: str) -> _Atom:
    spellings = _B64_PUNCTUATION.get(char, [char])
    return _Atom(_literal_trie(spellings), spellings)


_WRAP = _Atom(_BREAK, ["\r\n"])  # before each character of a base64 form but the first


_TEXT_ATOMS: dict[str, _Atom] = {}
_B64_ATOMS: dict[str, _Atom] = {}


def _text_atoms(form: str) -> list[_Atom]:
    found = []
    for char in form:
        atom = _TEXT_ATOMS.get(char)
        if atom is None:
            atom = _TEXT_ATOMS[char] = _text_atom(char)
        found.append(atom)
    return found


def _b64_atoms(form: str) -> list[_Atom]:
    found = []
    for i, char in enumerate(form):
        atom = _B64_ATOMS.get(char)
        if atom is None:
            atom = _B64_ATOMS[char] = _b64_atom(char)
        found += [_WRAP, atom] if i else [atom]
    return found


def _secret_like(part: str) -> bool:
    """A URL component that looks like a token (not a word such as "services")."""
    has_digit = any(c.isdigit() for c in part)
    has_letter = any(c.isalpha() for c in part)
    return len(part) >= 16 or (len(part) >= PART and has_digit and has_letter)


def url_parts(value: str) -> list[str]:
    """The components of a URL secret that are secrets on their own: its password (and a
    token-like user), its path when a segment of it is token-like, those segments, and its
    token-like query values. Nothing for a value that is not a URL."""
    if "://" not in value or any(c.isspace() for c in value):
        return []
    try:
        parts = urllib.parse.urlsplit(value)
        password, username = parts.password, parts.username
    except ValueError:
        return []
    if not parts.scheme or not parts.netloc:
        return []
    found = [p for p in (password,) if p]
    found += [u for u in (username,) if u and _secret_like(u)]
    segments = [s for s in parts.path.split("/") if _secret_like(s)]
    if segments:
        found += [parts.path.rstrip("/"), *segments]
    for _, query_value in urllib.parse.parse_qsl(parts.query, keep_blank_values=False):
        if _secret_like(query_value):
            found.append(query_value)
    return [f for f in dict.fromkeys(found) if f != value]


def lines(value: str) -> list[str]:
    """The lines of a multi-line value that are masked on their own (not a PEM armor line)."""
    if "\n" not in value:
        return []
    return [line for line in (raw.strip() for raw in value.splitlines())
            if len(line) >= LINE and not _ARMOR.fullmatch(line)]


def text_forms(value: str) -> list[str]:
    """The texts of ``value`` masked in every spelling: itself (a PEM key without its armor
    lines, which are no secret), its lines, its URL parts."""
    body = "\n".join(line for line in value.splitlines() if not _ARMOR.fullmatch(line.strip()))
    return list(dict.fromkeys([body or value, *lines(value), *url_parts(value)]))


def base64_forms(value: str) -> list[str]:
    """``value`` base64-encoded: alone (padded), and the part of it that stays the same at
    each of the three alignments inside a longer text (the mask matches its URL-safe
    alphabet too). A multi-line value by its lines: what encodes it encodes them."""
    found = []
    for text in lines(value) or [value]:
        data = text.encode()
        found.append(base64.b64encode(data).decode())
        for offset in (0, 1, 2):
            inside = b"\0" * offset + data
            middle = base64.b64encode(inside[:len(inside) // 3 * 3]).decode()
            if len(middle[4 if offset else 0:]) >= PART:
                found.append(middle[4 if offset else 0:])
    return list(dict.fromkeys(found))


def forms(value: str) -> list[str]:
    """Concrete forms of ``value`` that a masking log (GitHub Actions' ::add-mask::) should
    know, longest first: the mask itself matches every spelling of them, these are examples."""
    found: set[str] = set()
    for text in text_forms(value):
        found |= {text, urllib.parse.quote(text, safe=""), urllib.parse.quote_plus(text),
                  json.dumps(text)[1:-1], html.escape(text), shlex.quote(text),
                  "".join("\\" + c if c in _PUNCTUATION else c for c in text)}
    found |= {f for b in base64_forms(value) for f in (b, b.replace("+", "-").replace("/", "_"))}
    return sorted((f for f in found if f), key=len, reverse=True)


class _Node:
    __slots__ = ("children", "end")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}  # by the regex of the next atom
        self.end = False  # a form ends here

    def child(self, regex: str) -> _Node:
        found = self.children.get(regex)
        if found is None:
            found = self.children[regex] = _Node()
        return found


class _Trie:
    """Forms as one regex: a trie of their atoms, each branch starting with a literal where it
    can, so that the regex engine tries few alternatives at each position of a text."""

    def __init__(self) -> None:
        self.root = _Node()
        self.longest = 0

    def add(self, atoms: list[_Atom], *, whole_word: bool = False) -> None:
        """Add a form; its first atom is added once per first character of its spellings,
        so that every branch at the root starts with a literal. A ``whole_word`` form
        matches only where no word character is next to it."""
        starts: dict[str, list[str]] = {}
        for spelling in atoms[0].spellings:
            starts.setdefault(spelling[0], []).append(spelling[1:])
        for first, rests in starts.items():
            literal = re.escape(first)
            node = self.root.child(literal + (rf"(?<!\w{literal})" if whole_word else ""))
            if rest := _literal_trie(rests):
                node = node.child(rest)
            for atom in atoms[1:]:
                node = node.child(atom.regex)
            if whole_word:
                node = node.child(r"(?!\w)")
            node.end = True
        self.longest = max(self.longest, sum(a.longest for a in atoms))

    def regex(self) -> str:
        return _emit(self.root)


def _emit(node: _Node) -> str:
    """The regex of a trie node: a chain of single children is written out in a loop (a PEM
    key is thousands of atoms long), branches recurse; an end with children is a greedy
    optional group, so that the longest form wins."""
    chain: list[str] = []
    while len(node.children) == 1 and not node.end:
        (atom, node), = node.children.items()
        chain.append(atom)
    branches = [atom + _emit(child) for atom, child in node.children.items()]
    if not branches:
        return "".join(chain)
    body = branches[0] if len(branches) == 1 and not node.end else \
        "(?:" + "|".join(branches) + ")"
    return "".join(chain) + body + "?" * node.end


MAX_PREFIX = 8  # letters before a form's anchor
MAX_SPELLINGS = 64  # spellings of what comes before a form's anchor


def _anchor(form: str, atoms: list[_Atom]) -> tuple[int, list[str]]:
    """Where the pattern starts matching ``form`` (spelt ``atoms``, one a character), and
    every spelling of what comes before it: its first capital letter (rare in most text, so
    that the regex engine skips at once the positions where no form starts), when that
    leaves enough of it and what comes before is spelt in few ways; what comes before is
    masked too where it is there (``_Compiled.spans``). 0 (no prefix) otherwise."""
    at = next((i for i, c in enumerate(form[:MAX_PREFIX + 1]) if c.isascii() and c.isupper()),
              0)
    if at == 0 or len(form) - at < PART:
        return 0, []
    spellings = [""]
    for atom in atoms[:at]:
        spellings = [s + t for s in spellings for t in atom.spellings]
        if len(spellings) > MAX_SPELLINGS:
            return 0, []
    return at, spellings


class _Compiled:
    """Every form of every value as one pattern, and how to mask a text with it."""

    def __init__(self, values: Iterable[str]) -> None:
        trie = _Trie()
        prefixes: dict[int, set[str]] = {}

        def add(form: str, atoms: list[_Atom], per_char: int) -> None:
            """``atoms`` spell ``form``, ``per_char`` atoms a character (a base64 form has a
            line-break atom before each character but the first)."""
            at, before = _anchor(form, atoms[::per_char]) if len(form) >= SHORT else (0, [])
            for spelling in before:
                prefixes.setdefault(len(spelling), set()).add(spelling)
            trie.add(atoms[per_char * at:], whole_word=len(form) < SHORT)

        for value in values:
            for text in text_forms(value):
                add(text, _text_atoms(text), 1)
            for encoded in base64_forms(value):
                add(encoded, _b64_atoms(encoded), 2)
        self.regex = re.compile(trie.regex())
        self.prefixes = {n: frozenset(p) for n, p in sorted(prefixes.items(), reverse=True)}
        self.reach = max(self.prefixes, default=0)  # the longest prefix
        self.longest = trie.longest + self.reach  # the longest text a match covers

    def spans(self, text: str, start: int = 0, stop: int | None = None
              ) -> Iterator[tuple[int, int]]:
        """Where ``text[start:]`` shows a secret (matches starting before ``stop``)."""
        done = start
        for match in self.regex.finditer(text, start):
            begin = match.start()
            if stop is not None and begin >= stop:
                return
            for length, prefixes in self.prefixes.items():  # the letters before the anchor
                if begin - length >= done and text[begin - length:begin] in prefixes:
                    begin -= length
                    break
            yield begin, match.end()
            done = match.end()

    def mask(self, text: str, start: int = 0) -> str:
        """``text[start:]`` masked (``text[:start]`` is what comes before it)."""
        out, done = [], start
        for begin, end in self.spans(text, start):
            out += [text[done:begin], MASK]
            done = end
        out.append(text[done:])
        return "".join(out)


class _Masker:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._compiled: _Compiled | None = None
        self._lock = threading.Lock()

    def add(self, value: str) -> bool:
        """Mask ``value`` from now on; False when it already was."""
        if not value or value in self._values:
            return False
        with self._lock:
            self._values.add(value)
            self._compiled = None
        return True

    def compiled(self) -> _Compiled | None:
        """The pattern of every value's forms; None while nothing is to be masked."""
        if not self._values:
            return None
        compiled = self._compiled
        if compiled is None:
            with self._lock:
                compiled = self._compiled = _Compiled(sorted(self._values))
        return compiled

    def mask(self, text: str) -> str:
        compiled = self.compiled()
        return compiled.mask(text) if compiled else text

    def forget_all(self) -> None:
        """For tests: start again with nothing to mask."""
        with self._lock:
            self._values.clear()
            self._compiled = None


_MASKER = _Masker()
register = _MASKER.add
mask = _MASKER.mask
forget_all = _MASKER.forget_all


def active() -> bool:
    """Whether any value is masked (a writer of much text may skip ``mask`` when not)."""
    return bool(_MASKER._values)


def mask_bytes(data: bytes) -> bytes:
    """``mask`` for bytes that may not be UTF-8 (a command's output): other bytes stay."""
    if not _MASKER._values:
        return data
    return mask(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


class StreamMasker:
    """Masks a text that comes in pieces (a command's output read 64 KiB at a time) as if it
    came whole: a secret cut by a read boundary is masked all the same. ``feed`` returns
    what is safe to write now; it holds back the tail that could still be the start of a
    secret (the longest form's length) until the next piece or ``close``."""

    def __init__(self) -> None:
        self._pending = ""
        self._context = 0  # leading characters of _pending already written (for lookbehind)

    def feed(self, text: str) -> str:
        pending = self._pending + text
        compiled = _MASKER.compiled()
        if compiled is None:
            self._pending = pending
            return self._take(len(pending), [pending[self._context:]])
        safe = len(pending) - compiled.longest - 1  # a match starting before it ends inside
        self._pending = pending
        if safe <= self._context:
            return ""
        out: list[str] = []
        done = self._context
        for begin, end in compiled.spans(pending, self._context, stop=safe):
            out += [pending[done:begin], MASK]
            done = end
        # the letters just before ``safe`` may begin a secret whose anchor comes later
        cut = max(done, safe - compiled.reach)
        out.append(pending[done:cut])
        return self._take(cut, out)

    def close(self) -> str:
        """The rest, masked: the text is complete."""
        pending, context = self._pending, self._context
        self._pending, self._context = "", 0
        compiled = _MASKER.compiled()
        return compiled.mask(pending, context) if compiled else pending[context:]

    def _take(self, cut: int, out: list[str]) -> str:
        """Write ``out`` (the text up to ``cut``, masked); keep the rest for later."""
        keep = max(0, cut - 1)  # one character before the cut: "a word goes on" for short
        self._pending, self._context = self._pending[keep:], cut - keep
        return "".join(out)


class ByteStreamMasker:
    """``StreamMasker`` for bytes that may not be UTF-8 (other bytes stay as they are; a
    character cut by a read boundary is decoded whole)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self._text = StreamMasker()

    def feed(self, data: bytes) -> bytes:
        return self._text.feed(self._decoder.decode(data)).encode("utf-8", "surrogateescape")

    def close(self) -> bytes:
        rest = self._text.feed(self._decoder.decode(b"", final=True)) + self._text.close()
        return rest.encode("utf-8", "surrogateescape")


class MaskedStream:
    """A text stream whose every write is masked first (stdout and stderr of the CLI)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(mask(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")

    @property
    def raw_stream(self) -> IO[str]:
        """The unmasked stream, for the one thing that must see a value: ::add-mask::."""
        return self._stream
