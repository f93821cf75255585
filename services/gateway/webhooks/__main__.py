"""`python -m services.gateway.webhooks`: the webhook deliverer, as `python -m services.gateway deliver`."""
from __future__ import annotations

import sys

from services.gateway.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["--help"] if {"-h", "--help"} & set(sys.argv[1:]) else ["deliver"]))
