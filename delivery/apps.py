from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"

    def ready(self) -> None:
        from anymail.signals import tracking

        from delivery.tracking import tracking_event_received

        # The ESPs' tracking webhooks (delivery/esp_urls.py) report through anymail's signal.
        tracking.connect(tracking_event_received, dispatch_uid="delivery-esp-tracking")
