"""Reading IDX files (the MNIST / Fashion-MNIST format), plain or gzipped, with errors that name the file."""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from bench.errors import UserError

UBYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """The uint8 array stored in an IDX file; a corrupt or truncated file is a UserError naming it."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise UserError(f"{path}: unreadable or corrupt ({err}); expected an IDX file"
                        f"{' compressed with gzip' if path.suffix == '.gz' else ''}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != UBYTE:
        raise UserError(f"{path}: not an IDX file of unsigned bytes (header {raw[:4].hex() or 'empty'}); "
                        f"expected a header starting 00 00 08")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path}: truncated inside its header; expected {header} header bytes")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise UserError(f"{path}: {len(raw) - header} bytes of data; expected {expected} for shape {shape} "
                        f"(truncated or corrupt)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()  # writable, for torch
