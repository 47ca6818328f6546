"""What the customers app tells the apps above it (it never imports those apps)."""

from django.dispatch import Signal

#: Customers created or whose fields or attributes changed, inside the transaction that
#: changed them: ``workspace_id`` and ``customer_ids`` (primary keys).
customers_changed = Signal()
