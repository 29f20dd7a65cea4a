"""Caps on what one compressed file may cost to parse: decompressed bytes and parse time.

A DOCX is a zip of XML and a PDF holds deflated streams, so a small file can expand enormously: a 60 KiB
DOCX parsed for 139 s and a 498 KiB file added 1 GB. A DOCX whose members declare more than
``MAX_DECOMPRESSED_BYTES`` in all is refused before parsing (zipfile stops at the declared size and checks
the CRC, so a lying header fails too); pypdf already caps each stream it inflates (75 MB), and the text
extracted from a PDF or DOCX is capped at ``MAX_TEXT_CHARS``. A parse that runs past ``MAX_PARSE_SECONDS`` is
stopped at its next page or block.
"""

from __future__ import annotations

import io
import time
import zipfile

from ingest.loaders.documents import UnreadableError

MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024
MAX_TEXT_CHARS = 64 * 1024 * 1024
MAX_PARSE_SECONDS = 30.0


def check_zip_expansion(data: bytes, limit: int | None = None) -> None:
    """Refuse a zip whose members would decompress to more than ``limit`` bytes in all."""
    limit = MAX_DECOMPRESSED_BYTES if limit is None else limit
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            declared = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip: the parser reports it as unreadable
    if declared > limit:
        raise UnreadableError(f"decompresses to {declared} bytes, over the limit of {limit}")


class ParseBudget:
    """Time and text a parse may still spend; ``spend`` raises ``UnreadableError`` once either is gone."""

    def __init__(self, seconds: float | None = None, text_bytes: int | None = None) -> None:
        self.seconds = MAX_PARSE_SECONDS if seconds is None else seconds
        self.text_bytes = MAX_TEXT_CHARS if text_bytes is None else text_bytes
        self.deadline = time.monotonic() + self.seconds
        self.text_left = self.text_bytes

    def spend(self, text: str) -> str:
        self.text_left -= len(text)
        if self.text_left < 0:
            raise UnreadableError(f"its text is over the limit of {self.text_bytes} characters")
        if time.monotonic() > self.deadline:
            raise UnreadableError(f"parsing took longer than the limit of {self.seconds:g} s")
        return text
