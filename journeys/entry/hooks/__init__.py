"""Webhook triggers: a journey's secret URL that a third party (Stripe, Shopify, a form
tool) POSTs to, each body entering its customer into the journey."""
