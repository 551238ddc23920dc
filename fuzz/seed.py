#!/usr/bin/env python3
"""Fills fuzz/corpus/<target>/ with seeds from SECURITY.md A01-A09 and A20 and
from the test fixtures. Run once before `cargo +nightly fuzz run <target>`."""

import os
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")
U = str(uuid.UUID("6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"))
B = b"XyZzy-b0undary"


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def part(name, data, filename=None):
    head = b'--' + B + b'\r\nContent-Disposition: form-data; name="' + name + b'"'
    if filename is not None:
        head += b'; filename="' + filename + b'"\r\nContent-Type: image/png'
    return head + b"\r\n\r\n" + data + b"\r\n"


def close(body):
    return body + b"--" + B + b"--\r\n"


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x1f\x15\xc4\x89"

# A20 and friends: traversal, non-canonical spellings, the accepted forms.
paths = [
    f"/{U}.png", f"/{U}.jpg", f"/{U.upper()}.png", f"/{U}.PNG", f"/{U}.jpeg",
    f"/{U}.png/", f"//{U}.png", f"/{U}.png.png", f"/{U.replace('-', '')}.png",
    "/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", f"/..%2f{U}.png", f"/{U}%00.png",
    f"/{U}.png?key=x", "/", "",
]
for i, p in enumerate(paths):
    write("public_path", f"a20-{i}", p)
    write("proxy_path", f"a20-{i}", "/api/proxy" + p)

keys = ["AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAA==", "-_-_-_-_-_-_-_-_-_-_-w",
        "+/+/+/+/+/+/+/+/+/+/+w==", "AAAA", "A" * 33, "%41%41", "😀" * 8]
for i, k in enumerate(keys):
    write("decode_key", f"key-{i}", k)

# A01-A09: boundaries, cut bodies, two files, no file, huge headers, empty file.
forms = {
    "ok": close(part(b"private", b"true") + part(b"file", PNG, b"a.png")),
    "a02-unclosed": part(b"file", PNG, b"a.png"),
    "a03-two-files": close(part(b"file", PNG, b"a.png") + part(b"file", PNG, b"b.png")),
    "a04-no-file": close(part(b"private", b"true")),
    "a04-many-fields": close(b"".join(part(b"f%d" % i, b"x") for i in range(20)) + part(b"file", PNG, b"a.png")),
    "a05-huge-header": close(part(b"file", PNG, b"n" * 2000)),
    "a06-traversal-name": close(part(b"file", PNG, b"../../etc/passwd")),
    "a09-empty-file": close(part(b"file", b"", b"a.png")),
    "preamble": close(b"junk before\r\n" + part(b"file", PNG, b"a.png")),
    "lf-only": close(part(b"file", PNG, b"a.png")).replace(b"\r\n", b"\n"),
}
for name, body in forms.items():
    for step in (0, 1, 7):
        write("multipart", f"{name}-{step}", bytes([step]) + body)

for sub in ("hostile", "real"):
    d = os.path.join(FIXTURES, sub)
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        # Big photos: keep the head, where the parsing decisions are made.
        write("sniff_type", f"{sub}-{name}", b"\x00\x10" + data[:16384])
print("seeded", os.path.join(HERE, "corpus"))
