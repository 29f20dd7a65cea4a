"""The HTTP service (FastAPI); built by ``api.app:create_app``."""
