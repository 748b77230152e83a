#!/usr/bin/env python3
"""Instructions per form post, from callgrind (README, "Performance": server CPU per form post).

    python3 benches/ingest_callgrind.py [BINARY] [--posts N] [--conns C] [--keep DIR]

Starts `leadgate serve` under `valgrind --tool=callgrind --separate-threads=yes` on a fresh
data dir (rate limits off, as in `cargo bench --bench load`), creates the bench campaign,
posts a warm-up of 300 forms, zeroes the counters, posts N forms (the load bench's ~400 B
body with UTM tags, a new visitor each) over C keep-alive connections, dumps, and prints
the instructions per post: the whole server, the writer thread, the rest. Instruction
counts do not depend on what else runs on the machine, so changes can be compared on a
busy box; the profiles stay in the output dir for `callgrind_annotate`.
"""

import argparse
import asyncio
import glob
import os
import re
import signal
import subprocess
import sys
import tempfile

TOKEN = "bench-admin-token-0123456789abcdef"


def form_body(i):
    return (
        "name=%E5%BC%A0%E4%B8%89&phone=139{:08}&email=visitor{i}%40example.com"
        "&company=%E4%B8%8A%E6%B5%B7%E6%9F%90%E6%9F%90%E8%87%AA%E5%8A%A8%E5%8C%96"
        "&title=%E9%87%87%E8%B4%AD%E7%BB%8F%E7%90%86"
        "&message=%E8%AF%B7%E5%8F%91%E9%80%81%E8%B5%84%E6%96%99&consent=on"
        "&utm_source=douyin&utm_medium=live&utm_campaign=bench&utm_content=host-a"
        "&ttclid=E.C.P.{i}&_token=bench-{i}&_hp="
    ).format(i % 100_000_000, i=i).encode()


async def request(reader, writer, method, path, body, headers):
    head = f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\n"
    for name, value in headers.items():
        head += f"{name}: {value}\r\n"
    writer.write(head.encode() + b"\r\n" + body)
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
        if name.lower() == "transfer-encoding" and "chunked" in value:
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readline()).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(length)
    return status


async def post_forms(host, port, first, count, conns):
    next_index = iter(range(first, first + count))

    async def one_connection():
        reader, writer = await asyncio.open_connection(host, port)
        done = 0
        for i in next_index:
            status = await request(
                reader,
                writer,
                "POST",
                "/f/bench",
                form_body(i),
                {"content-type": "application/x-www-form-urlencoded"},
            )
            if status != 303:
                raise SystemExit(f"post {i}: status {status}")
            done += 1
        writer.close()
        return done

    counts = await asyncio.gather(*(one_connection() for _ in range(conns)))
    assert sum(counts) == count


async def create_campaign(host, port):
    reader, writer = await asyncio.open_connection(host, port)
    body = '{"slug":"bench","name":"直播压测","kind":"livestream"}'.encode()
    status = await request(
        reader,
        writer,
        "POST",
        "/api/campaigns",
        body,
        {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"},
    )
    assert status == 201, status
    writer.close()


async def commit_totals(host, port):
    """(leads committed, commits) so far, from `/metrics`."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
    await writer.drain()
    text = (await reader.read()).decode(errors="replace")
    writer.close()

    def value(name):
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    return value("leadgate_commit_batch_size_sum"), value("leadgate_commit_batch_size_count")


def totals(path):
    """(instructions, whether the file is the writer thread's) of one callgrind dump."""
    writer = False
    total = 0
    with open(path, errors="replace") as f:
        for line in f:
            if "fn=" in line and "write_loop" in line:
                writer = True
            if line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
    return total, writer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary", nargs="?", default="target/release/leadgate")
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--conns", type=int, default=32)
    parser.add_argument("--keep", help="directory for the callgrind files")
    args = parser.parse_args()

    out = args.keep or tempfile.mkdtemp(prefix="lg-callgrind-")
    os.makedirs(out, exist_ok=True)
    data = tempfile.mkdtemp(prefix="lg-callgrind-data-")
    env = dict(os.environ, LEADGATE_ADMIN_TOKEN=TOKEN, LEADGATE_LOG="warn,leadgate=info")
    server = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            f"--callgrind-out-file={out}/callgrind.out.%p",
            args.binary,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rate-limit",
            "off",
            "--global-rate-limit",
            "off",
            "--max-connections",
            "10000",
            "--data",
            data,
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        for line in server.stderr:
            found = re.search(r"listening on http://([\d.]+):(\d+)", line)
            if found:
                host, port = found.group(1), int(found.group(2))
                break
        else:
            raise SystemExit("the server exited before listening")
        # Keep draining stderr so the server never blocks on a full pipe.
        drain = subprocess.Popen(["cat"], stdin=server.stderr, stdout=subprocess.DEVNULL)
        asyncio.run(create_campaign(host, port))
        asyncio.run(post_forms(host, port, 0, 300, args.conns))
        before = asyncio.run(commit_totals(host, port))
        subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True,
                       stdout=subprocess.DEVNULL)
        asyncio.run(post_forms(host, port, 1000, args.posts, args.conns))
        subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True,
                       stdout=subprocess.DEVNULL)
        after = asyncio.run(commit_totals(host, port))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
    dumps = [p for p in glob.glob(f"{out}/callgrind.out.{server.pid}.1-*")]
    whole = writer = 0
    for path in dumps:
        total, is_writer = totals(path)
        whole += total
        if is_writer:
            writer += total
    n = args.posts
    commits = max(after[1] - before[1], 1)
    print(f"{n} posts over {args.conns} connections, {commits:.0f} commits "
          f"({(after[0] - before[0]) / commits:.1f} leads each); profiles in {out}")
    print(f"instructions per post: server {whole / n:,.0f}, writer thread {writer / n:,.0f}, "
          f"the rest {(whole - writer) / n:,.0f}")
    drain.wait()


if __name__ == "__main__":
    sys.exit(main())
