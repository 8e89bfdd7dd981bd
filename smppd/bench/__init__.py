"""``smppd bench``: an SMPP load generator built on smppd's own codec and session.

* :mod:`~smppd.bench.loadgen`: the generator (binds, windows, fixed rate or
  as fast as the windows allow, latency histograms, receipts).
* :mod:`~smppd.bench.verify`: which submits were acknowledged, and the
  exactly-once check against ``smppd sim``'s statistics.
* :mod:`~smppd.bench.report`: the printed table and the JSON document.
* :mod:`~smppd.bench.rss`: resident memory of another process, from /proc.
"""
