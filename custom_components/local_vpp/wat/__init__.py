"""WAT in Home Assistant: the flat's token balance, trades and price."""
