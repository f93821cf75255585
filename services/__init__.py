"""Recipe generation pipeline: one package per service, plus `common`."""
