"""``/u/<token>``: the unsubscribe link of every marketing message (RFC 8058).

A mail client's one-click unsubscribe POSTs ``List-Unsubscribe=One-Click`` to the link,
without cookies or login: that POST unsubscribes. A person who clicks the link in
their browser gets a GET, which changes nothing (link scanners and previews fetch
links too) and shows a page with the button that POSTs.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from customers.errors import NotFound
from delivery.consent import topic_names, unsubscribe, unsubscribe_message


@csrf_exempt  # mail providers POST without a session; the signed token is the proof
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        if request.method == "POST":
            everything = request.POST.get("scope") == "all"
            message = unsubscribe(token=token, everything=everything)
            done = "all" if everything else "topic"
        else:
            message = unsubscribe_message(token)
            done = ""
    except NotFound as error:
        return render(request, "delivery/unsubscribe.html", {"error": str(error)}, status=404)
    topic = message.topic
    names = topic_names(workspace_id=message.workspace_id, keys=[topic]) if topic else {}
    context = {
        "done": done,
        "workspace": message.workspace.name,
        "topic": names.get(topic, topic),
        "address": message.recipient,
    }
    return render(request, "delivery/unsubscribe.html", context)
