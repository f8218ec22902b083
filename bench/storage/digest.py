"""Names derived from content: the sha256 of an object's canonical JSON (keys sorted), cut to a length."""
from __future__ import annotations

import hashlib
import json


def json_digest(obj, length: int, compact: bool = False) -> str:
    """The first `length` hex digits of the sha256 of `obj` as JSON with sorted keys.

    `compact` leaves out the spaces after `,` and `:`; run identities were defined that way and the
    other names (caches, studies, setups) with json's default separators, and both stay as they are
    so that names already on disk still match.
    """
    separators = (",", ":") if compact else (", ", ": ")
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=separators).encode()).hexdigest()[:length]
