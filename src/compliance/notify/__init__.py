"""Notifications: planning what is due (pure), rendering, outbox delivery, email backends."""
