"""The online store: the latest value of every online feature, in Redis.

One module per responsibility, in the order data flows through them:

- `layout`: key and field names, and how values are written as text and read back;
- `connection`: which Redis to use (flag, environment, settings) and opening it;
- `embedded`: the project's own redis-server when no Redis is configured;
- `lock`: one sync at a time per project;
- `state`: each view's generation, watermark and schema, kept in Redis;
- `writer`: pipelined, server-side-checked writes of one view's latest rows;
- `reader`: one server call that reads many entities of many views.

`featurestore.sync` and `featurestore.verify` put them together; docs/online-store.md
describes what a user sees in Redis.
"""
