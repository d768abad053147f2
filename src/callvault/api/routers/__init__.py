"""The API's routers, one per area; each endpoint checks access, then calls a service."""
