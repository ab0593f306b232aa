"""The flat as ECHONET Lite nodes over UDP, driven by the same physics as Modbus."""
