"""Connectors: the ways a message leaves the gateway (carrier SMPP binds, the
built-in simulator, GSM modem pools) and the way receipts and inbound
messages come back from them."""
