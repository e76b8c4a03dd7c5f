"""Idempotency keys for tests: a fresh key per call, as a client makes one per new request."""

import uuid


def new_key() -> str:
    return f"test:{uuid.uuid4().hex}"
