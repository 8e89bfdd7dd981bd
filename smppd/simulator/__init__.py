"""A simulated carrier (SMSC) for demos, application developers and load tests.

* :mod:`~smppd.simulator.core`: the carrier itself, sans-IO (ids, receipts,
  throttling, faults, MO, statistics).
* :mod:`~smppd.simulator.handset`: what each phone behind it received, as text.
* :mod:`~smppd.simulator.server`: a standalone SMSC on TCP (``smppd sim``).
* :mod:`~smppd.simulator.control`: the HTTP JSON control endpoint of either.
* :mod:`~smppd.simulator.connector`: the in-process ``sim`` connector.
"""
