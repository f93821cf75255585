"""The HTTP gateway: accepts generation requests, serves recipes, streams progress, delivers webhooks."""
