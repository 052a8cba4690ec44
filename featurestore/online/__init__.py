"""The online store: the latest value of every online feature, in Redis.

One module per responsibility, from the bottom up:

- `codec`: how values are written as text and read back, and the schema recorded per view;
- `keys`: the name of every key a project writes;
- `resp`: the Redis wire protocol, framed with Arrow for the two hot paths;
- `connection`: which Redis to use (flag, environment, settings), opening it, and turning
  its errors into one-line messages;
- `embedded`: the project's own redis-server when no Redis is configured;
- `lock`: one sync or push at a time per project, waited for in line;
- `state`: each view's meta hash (generation, watermark, schema) and the life of generations;
- `writer`: pipelined writes of one view's latest rows, never older over newer;
- `reader`: one server call that reads many entities of many views;
- `sync` and `verify`: the use cases `fs sync` and `fs verify-online`;
- the HTTP feature server, `fs serve`, is a room of its own above this one (featurestore/serve).

docs/online-store.md describes what a user sees in Redis.
"""
