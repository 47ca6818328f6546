"""Delivery: everything that leaves the product. Messages over e-mail, SMS and
WhatsApp, outbound HTTP that cannot reach private networks, Liquid templates, and state
webhooks to a workspace's endpoints. Other apps call :mod:`delivery.services` only."""
