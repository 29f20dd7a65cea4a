"""Keys never reach the log: secret-looking query parameters are redacted from uvicorn's access log.

The API takes keys only as ``Authorization: Bearer``, but a client may still put one in the URL
(``?api_key=...``), and uvicorn's access log writes the whole path with its query string.
"""

from __future__ import annotations

import logging
import re

# Query parameters whose value is (or may be) a secret, by name.
_SECRET_PARAM = re.compile(r"(?i)([?&](?:[\w.-]*(?:key|token|secret|password|auth)[\w.-]*)=)[^&#\s]*")
REDACTED = "[redacted]"


def redact_query(path: str) -> str:
    return _SECRET_PARAM.sub(lambda match: match.group(1) + REDACTED, path)


class RedactSecrets(logging.Filter):
    """Rewrites the path argument of uvicorn's access records (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            record.args = (*record.args[:2], redact_query(record.args[2]), *record.args[3:])
        return True


def install_log_redaction() -> None:
    """Once per process: the filter on uvicorn's access logger."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, RedactSecrets) for existing in access.filters):
        access.addFilter(RedactSecrets())
