"""``/`` points a newcomer to the admin, the API docs and the README."""

import pytest

pytestmark = pytest.mark.django_db


def test_home_page_links_the_admin_the_api_docs_and_the_readme(anonymous_client):
    response = anonymous_client.get("/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    for link in ('href="/admin/"', 'href="/api/docs/"', 'href="/readme"', 'href="/api/schema/"'):
        assert link in html


def test_readme_is_served_as_text(anonymous_client):
    response = anonymous_client.get("/readme")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert b"make run" in b"".join(response.streaming_content)


def test_home_page_answers_only_reads(anonymous_client):
    assert anonymous_client.post("/").status_code == 405
