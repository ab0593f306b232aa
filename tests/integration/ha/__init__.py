"""Home Assistant tests: the integration in a real Home Assistant, real simulator."""
