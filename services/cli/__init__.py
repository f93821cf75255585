"""Command line for users and operators: generate, follow, list and show recipes; dead letters."""
