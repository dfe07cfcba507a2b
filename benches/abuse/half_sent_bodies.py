#!/usr/bin/env python3
# Usage: python3 benches/abuse/half_sent_bodies.py PORT SERVER_PID COUNT, against
# `downwave serve --trusted-proxies 127.0.0.1/32` with a service `claude` (each
# connection forwards a distinct address, so the rate limit lets every one in).
"""Half-sent report bodies against a local downwave: how long the server holds
them, what they cost in memory, and what each is answered."""
import resource, selectors, socket, sys, time
port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
before = rss()
sel = selectors.DefaultSelector()
head = (b"POST /api/v1/reports HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 100\r\n\r\n{\"service\":\"cla")
t0 = time.time()
got = {}
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    xff = f"x-forwarded-for: 198.18.{i // 256}.{i % 256}\r\n".encode()
    s.sendall(head.replace(b"host: x\r\n", b"host: x\r\n" + xff))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, i)
    got[i] = b""
opened = time.time() - t0
time.sleep(1)
held = rss()
print(f"opened {n} in {opened:.1f} s; server RSS {before} kB before, {held} kB with them held "
      f"({(held - before) / n:.1f} kB each)")
open_n, resets, last = n, 0, 0.0
while open_n and time.time() - t0 < 90:
    for key, _ in sel.select(timeout=1):
        s, i = key.fileobj, key.data
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            d, resets = b"", resets + 1
        if d:
            got[i] += d
            continue
        sel.unregister(s); s.close(); open_n -= 1; last = time.time() - t0
codes = {}
for v in got.values():
    k = v[:12].decode(errors="replace") or "(nothing)"
    codes[k] = codes.get(k, 0) + 1
print(f"{n - open_n} closed by the server, the last {last:.1f} s after the first opened; "
      f"{open_n} still open; {resets} resets; answers: {codes}")
