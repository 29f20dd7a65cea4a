"""Two folders, one collection: a document id taken by another folder's document is refused, not replaced.

Ids of files are paths relative to the folder given (``guide/setup.md``), so ``rag ingest a/`` and then
``rag ingest b/`` into one collection would silently replace ``a/guide/setup.md`` with
``b/guide/setup.md``. The store keeps each file document's ``root`` (the absolute folder it was ingested
from); a new document whose id is held by a document of another root is a named failure that names both
files, while re-ingesting the same folder updates as before. One exception keeps moved folders working: when
the stored root no longer exists (the folder was moved or renamed), its documents are replaced by the new
ones. Documents without a root (uploads, caller documents, collections from before roots) never collide.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ingest.loaders import SourceDocument, location


@dataclass
class RootCollisions:
    """The stored documents' roots (``Collection.document_roots()``: id -> (root, source))."""

    stored: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    _gone: dict[str, bool] = field(default_factory=dict)

    def problem(self, document: SourceDocument) -> str | None:
        """Why ``document`` may not replace the stored document of its id, or None."""
        held = self.stored.get(document.id)
        if document.root is None or held is None:
            return None
        root, source = held
        if _same_folder(root, document.root) or self._root_gone(root):
            return None
        other = f"{root.rstrip('/')}/{source}" if source is not None else root
        return (
            f"id {document.id!r} is already held by {other} (ingested from {root}); {location(document)} "
            "was not stored, so as not to replace it: ingest this folder into another collection, or "
            "delete that document first"
        )

    def _root_gone(self, root: str) -> bool:
        if root not in self._gone:
            self._gone[root] = not os.path.isdir(root)
        return self._gone[root]


def _same_folder(stored: str, given: str) -> bool:
    return stored.rstrip("/") == given.rstrip("/")
