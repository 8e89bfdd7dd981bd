"""SMPP 3.4 wire codec (with the SMPP 5.0 additions a gateway meets).

Pure: bytes in, PDUs out and back, with no Twisted import, no socket and no
clock."""
