"""Drops files from the page cache (posix_fadvise DONTNEED), so that the next read of them comes from the disk.

Used by `npm run bench -- block-major` to give every timed call the reads a checkpoint larger than memory would
see. Clean pages only: the files must not have unwritten changes (they are written, then synced, first).

    python3 evict.py FILE [FILE ...]   ->   {"evicted": [bytes of each file]}
"""

import json
import os
import sys


def main() -> None:
    sizes = []
    for path in sys.argv[1:]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            sizes.append(os.fstat(fd).st_size)
        finally:
            os.close(fd)
    print(json.dumps({"evicted": sizes}))


if __name__ == "__main__":
    main()
