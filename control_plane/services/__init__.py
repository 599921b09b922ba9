"""Domain logic the routers call: keyword-only functions, one transaction each, no FastAPI."""
