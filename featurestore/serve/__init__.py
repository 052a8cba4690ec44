"""`fs serve`: the HTTP feature server, a room above the use cases it serves.

It calls only what `FeatureStore` hands it (its read, push and health methods, bound to the
server's Redis) and imports nothing above `online/`:

- `app`: the ASGI app, its routes and error answers;
- `guard`: who may ask (a token for pushes, JSON only, no other origin, the Host header);
- `limits`: how much one request may cost (body size and time, entities per read);
- `requests` and `responses`: Feast's bodies, read and written as strict JSON;
- `openapi`: the description `GET /openapi.json` serves;
- `run`: uvicorn, and how worker processes learn their settings without secrets in their
  environment.

docs/serving.md is the user's side of it.
"""
