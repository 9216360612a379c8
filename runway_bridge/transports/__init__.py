"""Transports translate wire messages to host calls and back; none knows about models."""
