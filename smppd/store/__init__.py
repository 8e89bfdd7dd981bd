"""The durable store: an acknowledged message is never lost.

* :mod:`~smppd.store.models` — the schema; :mod:`~smppd.store.schema` — Alembic
  migrations shipped in the package (``schema.open_store`` creates and
  migrates a store on first start).
* :mod:`~smppd.store.writer` — group commit on a dedicated thread;
  :mod:`~smppd.store.txwriter` — the same with Deferreds for the reactor.
* :mod:`~smppd.store.ops` — every write, including lifecycle transitions
  checked by :mod:`~smppd.store.lifecycle`.
* :mod:`~smppd.store.recovery` — crash recovery at start;
  :mod:`~smppd.store.outbox` — receipts and inbound messages owed to
  applications; :mod:`~smppd.store.retention` and
  :mod:`~smppd.store.txretention` — purging, by hand and daily;
  :mod:`~smppd.store.accounts`; :mod:`~smppd.store.admin` — operator views.

Nothing is imported here, so that a process which only writes (and does not
migrate) does not pay for importing Alembic.
"""
