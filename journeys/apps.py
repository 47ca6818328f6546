from django.apps import AppConfig


class JourneysConfig(AppConfig):
    name = "journeys"

    def ready(self) -> None:
        from customers.signals import customers_changed
        from delivery.signals import message_engagement
        from journeys.entry import receivers
        from segments.signals import segment_members_joined

        segment_members_joined.connect(receivers.members_joined, dispatch_uid="segment-joins")
        customers_changed.connect(receivers.customers_changed, dispatch_uid="segment-presence")
        message_engagement.connect(receivers.message_engagement, dispatch_uid="email-engagement")
