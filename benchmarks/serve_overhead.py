"""The per-request cost of `fs serve`'s app itself: the ASGI app called directly (no network,
no uvicorn) with a stub read that returns the same three-feature answer, so what is timed is
the routing, the access policy, the limits, the JSON in and out.

    PYTHONPATH=<checkout> python benchmarks/serve_overhead.py <label>

Run it for two checkouts (before and after a change) one after the other and compare: it
works with the app before issue 20 moved it (featurestore/online/server.py) and after
(featurestore/serve/). Prints, for 1 and 100 entities, microseconds per request over 7
blocks of 1,000 requests (the minimum and the median).
"""
import asyncio
import json
import statistics
import sys
import time
from datetime import datetime
from featurestore.online.reader import OnlineFeatures, PRESENT
try:
    from featurestore.serve.app import feature_server
    make = lambda read: feature_server(read, lambda: [], None)
except ImportError:
    from featurestore.online.server import feature_server
    make = lambda read: feature_server(read, lambda: None, None)

def stub(rows, features, bare_names=False, full_names=False):
    n = len(rows)
    return OnlineFeatures(features=["a", "b", "c"], entity_rows=rows, values=[[1.5, 2, True]] * n,
                          statuses=[[PRESENT] * 3] * n, event_timestamps=[{"v": datetime(2024, 1, 1)}] * n, feature_views=("v", "v", "v"))

app = make(stub)
async def one(body):
    sent = False
    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
    out = []
    async def send(message): out.append(message)
    scope = {"type": "http", "method": "POST", "path": "/get-online-features", "raw_path": b"/get-online-features", "root_path": "",
             "scheme": "http", "query_string": b"", "http_version": "1.1", "server": ("127.0.0.1", 6566), "client": ("127.0.0.1", 5000),
             "headers": [(b"host", b"127.0.0.1:6566"), (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
    await app(scope, receive, send)
    assert out[0]["status"] == 200, out
async def main():
    for n in (1, 100):
        body = json.dumps({"features": ["v:a", "v:b", "v:c"], "entities": {"entity_id": list(range(n))}}).encode()
        for _ in range(200): await one(body)
        samples = []
        for _ in range(7):
            started = time.perf_counter()
            for _ in range(1000): await one(body)
            samples.append((time.perf_counter() - started) / 1000 * 1e6)
        print(sys.argv[1], n, "entities:", round(min(samples), 1), "us min,", round(statistics.median(samples), 1), "us median")
asyncio.run(main())
