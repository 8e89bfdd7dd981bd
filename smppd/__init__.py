"""smppd: a self-hosted SMS gateway.

Applications submit over SMPP 3.4; the gateway stores every message durably,
routes it to a carrier (SMPP client bind) or a GSM modem, and brings receipts
and inbound messages back. The wire codec (:mod:`smppd.smpp`) and the text
layer (:mod:`smppd.text`) are pure: bytes and values in, values out.
"""

__version__ = "0.1.0"
