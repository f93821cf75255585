"""`python -m services.common.config [PATH]`: write docs/configuration.md (default: print it)."""
from __future__ import annotations

import sys
from pathlib import Path

from services.common.config import reference

if __name__ == "__main__":
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(reference())
    else:
        sys.stdout.write(reference())
