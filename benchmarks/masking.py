"""The mask's speed: 10 MB of log text with 20 secrets of the usual shapes (tokens, passwords
with punctuation, a webhook URL, a PEM key), masked whole and as a stream of 64 KiB chunks.

Run: `python benchmarks/masking.py` (`--runs N`, `--mb N`). The peer, measured in the same run,
is one compiled alternation of the 20 raw values (the least any mask does): the figure is the
ratio of Scalpel's mask to it, so the machine's noise cancels out.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scalpel_plan import masking  # noqa: E402

CHUNK = 1 << 16


def secrets(rng: random.Random) -> list[str]:
    def word(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    found = [f"ghp_{word(36)}" for _ in range(8)]
    found += [f"pypi-{word(60)}" for _ in range(4)]
    found += [f'p@ss/w+rd=&"{word(10)}' for _ in range(4)]
    found += [f"https://hooks.slack.test/services/T{word(8)}/B{word(8)}/{word(24)}",
              f"https://bot:{word(20)}@hooks.test/h?token={word(24)}&x=1"]
    pem = "\n".join(word(64, string.ascii_letters + string.digits + "+/") for _ in range(12))
    found += [f"-----BEGIN PRIVATE KEY-----\n{pem}\n-----END PRIVATE KEY-----", word(12)]
    return found


def text(rng: random.Random, values: list[str], megabytes: int) -> str:
    lines, size = [], 0
    words = ["building", "wheel", "copying", "src/app/module.py", "->", "ok", "test", "passed",
             "INFO", "2026-01-01T00:00:00Z", "{\"step\": 3}", "https://example.test/x?y=1"]
    while size < megabytes * 1_000_000:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(4, 14)))
        if rng.random() < 0.01:
            line += " token=" + rng.choice(values).splitlines()[0]
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines)


def median(runs: int, work) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mb", type=int, default=10)
    parser.add_argument("--baseline", type=Path, help="another masking.py to time beside "
                        "this one, e.g. `git show REV:scalpel_plan/masking.py > old.py`")
    args = parser.parse_args()
    rng = random.Random(13)
    values = secrets(rng)
    blob = text(rng, values, args.mb)
    import re

    peer = re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))
    masking.forget_all()
    for value in values:
        masking.register(value)
    started = time.process_time()
    masking.mask("warm-up")  # compiles the pattern
    compiled = time.process_time() - started
    ours = median(args.runs, lambda: masking.mask(blob))
    theirs = median(args.runs, lambda: peer.sub(masking.MASK, blob))
    streamer = getattr(masking, "StreamMasker", None)

    def streamed() -> None:
        assert streamer is not None
        masker = streamer()
        for at in range(0, len(blob), CHUNK):
            masker.feed(blob[at:at + CHUNK])
        masker.close()

    chunked = median(args.runs, streamed) if streamer else float("nan")
    count = len({f for v in values for f in masking.forms(v)})
    print(f"{args.mb} MB, {len(values)} secrets, {count} masked forms; median of {args.runs}")
    print(f"  pattern compile           {compiled * 1000:8.1f} ms")
    print(f"  mask (whole text)         {ours:8.3f} s   {ours / theirs:5.2f}x the peer")
    print(f"  mask (64 KiB stream)      {chunked:8.3f} s   {chunked / theirs:5.2f}x the peer")
    print(f"  peer: raw values only     {theirs:8.3f} s")
    if args.baseline:
        import importlib.util

        spec = importlib.util.spec_from_file_location("baseline_masking", args.baseline)
        assert spec and spec.loader
        old = importlib.util.module_from_spec(spec)
        sys.modules["baseline_masking"] = old
        spec.loader.exec_module(old)
        for value in values:
            old.register(value)
        started = time.process_time()
        old.mask("warm-up")
        old_compiled = time.process_time() - started
        before = median(args.runs, lambda: old.mask(blob))
        print(f"  baseline {args.baseline.name}: compile {old_compiled * 1000:.1f} ms, mask "
              f"{before:.3f} s ({before / theirs:.2f}x the peer); this one is "
              f"{ours / before:.2f}x the baseline's time")


if __name__ == "__main__":
    main()
