#!/usr/bin/env python3
# Usage: python3 benches/abuse/invented_methods.py PORT SERVER_PID COUNT, against
# `downwave serve`.
"""Requests with invented methods against a local downwave: the size of
/metrics before and after, and the server's memory."""
import http.client, sys
port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
def metrics_size():
    c = http.client.HTTPConnection("127.0.0.1", port); c.request("GET", "/metrics")
    return len(c.getresponse().read())
before, rss_before = metrics_size(), rss()
c = http.client.HTTPConnection("127.0.0.1", port)
statuses = {}
for i in range(n):
    c.request(f"M{i:05d}X", f"/nothing/{i}")
    r = c.getresponse(); r.read()
    statuses[r.status] = statuses.get(r.status, 0) + 1
print(f"{n} invented methods, answers {statuses}: /metrics {before} -> {metrics_size()} bytes, "
      f"server RSS {rss_before} -> {rss()} kB")
