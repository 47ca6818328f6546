"""The floor for one authenticated write through DRF: API-key auth, then one INSERT.

``bench/trigger.py`` compares the trigger endpoint with this view on the same server.
It authenticates exactly as the API does (``ApiKeyAuthentication``: one SELECT of the
key and its workspace), skips rate limiting, parses the JSON body and inserts one
``customers.Event`` row for the key's workspace. Anything the trigger costs beyond this
is the trigger's own work: rate limiting on Redis, finding the journey and customer,
the entry core.
"""

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
