"""Choosing the ESP by EMAIL_URL and configuring anymail by ANYMAIL_* variables."""

import pytest

from delivery.esp import EspConfigurationError, anymail_settings, esp_email_backend


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("postmark://", "anymail.backends.postmark.EmailBackend"),
        ("amazonses://", "anymail.backends.amazon_ses.EmailBackend"),
        ("sendgrid://", "anymail.backends.sendgrid.EmailBackend"),
        ("mailgun://", "anymail.backends.mailgun.EmailBackend"),
        ("brevo://", "anymail.backends.brevo.EmailBackend"),
        ("smtp://127.0.0.1:1025", None),
        ("consolemail://", None),
    ],
)
def test_email_url_scheme_names_the_esp(url, backend):
    assert esp_email_backend(url) == backend


def test_every_named_backend_exists():
    from django.utils.module_loading import import_string

    from delivery.esp import ESP_BACKENDS

    for scheme in ESP_BACKENDS:
        import_string(esp_email_backend(f"{scheme}://"))


def test_credentials_in_the_url_are_refused_with_the_setting_to_use():
    with pytest.raises(EspConfigurationError, match="ANYMAIL_POSTMARK_"):
        esp_email_backend("postmark://token@")


def test_anymail_variables_become_the_anymail_setting():
    environ = {
        "ANYMAIL_POSTMARK_SERVER_TOKEN": "abc-123",
        "ANYMAIL_WEBHOOK_SECRET": '["user:old", "user:new"]',
        "ANYMAIL_AMAZON_SES_CLIENT_PARAMS": '{"region_name": "eu-west-1"}',
        "ANYMAIL_MAILGUN_API_KEY": "12345",
        "EMAIL_URL": "postmark://",
    }

    assert anymail_settings(environ) == {
        "POSTMARK_SERVER_TOKEN": "abc-123",
        "WEBHOOK_SECRET": ["user:old", "user:new"],
        "AMAZON_SES_CLIENT_PARAMS": {"region_name": "eu-west-1"},
        "MAILGUN_API_KEY": "12345",  # a string, even when it looks like a number
    }


def test_a_json_looking_value_that_is_not_json_fails_loudly():
    with pytest.raises(EspConfigurationError, match="ANYMAIL_WEBHOOK_SECRET"):
        anymail_settings({"ANYMAIL_WEBHOOK_SECRET": "[user:pass"})
