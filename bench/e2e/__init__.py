"""End-to-end benchmark: the whole system next to the model-alone ceiling and the broker+database floor."""
