"""Why SQLite's file or its directory cannot be used, said in the operator's words.

SQLite answers only "unable to open database file"; ``serve`` must instead name the cause (a file where a
directory should be, a read-only file system, a permission) and the option to change (issue 20).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


def unusable_directory(exc: OSError) -> str:
    """Why a directory could not be made, in the operator's words (no errno, no traceback)."""
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        return f"{exc.filename} is a file, not a directory" if exc.errno == errno.EEXIST else \
            "a part of the path is a file, not a directory"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied (running as uid {os.getuid()})"
    return exc.strerror or str(exc)


def unwritable_because(path: Path) -> str:
    """SQLite says only "unable to open database file": add what stands in the way, if anything does."""
    directory = path.parent
    try:
        if not directory.is_dir():
            return f" ({directory} is not a directory)"
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return f" ({directory} is on a read-only file system)"
        if path.is_dir():
            return f" ({path} is a directory)"
        if not os.access(directory, os.W_OK) or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
            return f" (permission denied for uid {os.getuid()})"
    except OSError as exc:
        return f" ({exc.strerror})"
    return ""
