"""What every service shares: the event contract, broker topology, tool schemas and config.

Nothing here connects to anything at import time.
"""
