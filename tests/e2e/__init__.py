"""End-to-end tests: the three programs together."""
