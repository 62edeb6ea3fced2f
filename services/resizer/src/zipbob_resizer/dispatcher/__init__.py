"""Knative's part outside Kubernetes: RabbitMQ queue -> HTTP POST to the resizer."""
