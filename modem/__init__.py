"""GSM modem driver: AT command engine, SMS PDU (TS 23.040) codec, serial
transport and modem pool."""
