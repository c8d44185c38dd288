"""Alert notifications: the message model, its renderers per channel and the senders."""
