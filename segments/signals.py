"""What segments tell the apps above them (they never import those apps)."""

from django.dispatch import Signal

#: Customers newly added to a static segment, inside the transaction that added them:
#: ``segment`` (a Segment) and ``customer_ids`` (primary keys).
segment_members_joined = Signal()
