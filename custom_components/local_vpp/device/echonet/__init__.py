"""ECHONET Lite devices (UDP 3610): storage battery, home solar, smart meter, panel."""
