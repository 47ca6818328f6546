"""The floor for one authenticated write through DRF: API-key auth, then one INSERT.

``bench/trigger.py`` compares the trigger endpoint with this view on the same server.
It authenticates exactly as the API does (``ApiKeyAuthentication``: one SELECT of the
key and its workspace), skips rate limiting, parses the JSON body and inserts one
``customers.Event`` row for the key's workspace. Anything the trigger costs beyond this
is the trigger's own work: rate limiting on Redis, finding the journey and customer,
the entry core.
"""

import gzip
import json

from django.db import connection
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.authentication import ApiKeyAuthentication
from customers.models import Event


class BareInsertView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = []

    def post(self, request: Request) -> Response:
        properties = request.data if isinstance(request.data, dict) else {}
        event = Event.objects.create(
            workspace_id=request.auth.workspace_id, name="bench.bare_insert", properties=properties
        )
        return Response({"id": event.pk}, status=status.HTTP_201_CREATED)


#: One INSERT of a batch's rows, ``[[name, properties, timestamp, messageId], ...]`` as one
#: JSON parameter (the event stream's own INSERT reads its rows so).
BARE_EVENTS_INSERT = (
    "INSERT INTO customers_event (workspace_id, customer_id, name, properties, timestamp,"
    " received_at, message_id, matched_at)"
    " SELECT %s, NULL, r->>0, r->1, (r->>2)::timestamptz, now(), r->>3, now()"
    " FROM jsonb_array_elements(%s::jsonb) AS r"
)


class BareEventsInsertView(APIView):
    """The floor for storing a batch of events over HTTP: ``bench/events.py``'s baseline.

    The same authentication, the body read and (when gzip) decompressed, ``json.loads``
    without checks, and one INSERT of every message as an event row (no customer, no
    check, no de-duplication, nothing matched), as the event stream's own INSERT writes
    its rows: a JSON parameter expanded by ``jsonb_array_elements``.
    """

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = []
    parser_classes = []

    def post(self, request: Request) -> Response:
        raw = request.body
        if request.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        batch = json.loads(raw)["batch"]
        rows = json.dumps(
            [
                [m.get("event"), m.get("properties") or {}, m.get("timestamp"), m.get("messageId")]
                for m in batch
            ]
        )
        with connection.cursor() as cursor:
            cursor.execute(BARE_EVENTS_INSERT, [request.auth.workspace_id, rows])
            stored = cursor.rowcount
        return Response({"stored": stored}, status=status.HTTP_200_OK)
