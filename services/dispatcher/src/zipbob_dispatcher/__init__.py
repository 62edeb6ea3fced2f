"""Knative's part outside Kubernetes: RabbitMQ queues -> CloudEvents POSTed to a target.

Stands in for a RabbitmqSource plus a Trigger (retries with exponential backoff, then a
dead-letter sink) in dev and compose. Nothing in it knows what the target does.
"""
