"""ESPs' tracking webhook payloads, in the shapes and with the sample values of each
ESP's documentation (data only; the tests are in test_esp_webhooks.py).

Where a sample exists for one variant only, the other is the same sample with the
documented field that tells them apart changed, and says so: Postmark's soft bounce
(``Type``), SendGrid's blocked bounce (``type``), SES's transient bounce
(``bounceType``), Brevo's soft bounce (``event``). SendGrid's documented sample repeats
the placeholder ``"sg_event_id": "sg_event_id"`` in every event; here each event has an
id of its own, as SendGrid sends them.
"""

import json

# --- Postmark (one JSON object per call) ------------------------------------------------
POSTMARK_ID = "883953f4-6105-42a2-a16a-77a8eac79483"

POSTMARK_DELIVERY = {
    "RecordType": "Delivery",
    "ServerID": 23,
    "MessageStream": "outbound",
    "MessageID": POSTMARK_ID,
    "Recipient": "john@example.com",
    "Tag": "welcome-email",
    "DeliveredAt": "2019-11-05T16:33:54.9070259Z",
    "Details": "Test delivery webhook details",
    "Metadata": {"a_key": "a_value", "b_key": "b_value"},
}
POSTMARK_OPEN = {
    "RecordType": "Open",
    "MessageStream": "outbound",
    "FirstOpen": True,
    "Client": {"Name": "Chrome 35.0.1916.153", "Company": "Google", "Family": "Chrome"},
    "OS": {"Name": "OS X 10.7 Lion", "Company": "Apple Computer, Inc.", "Family": "OS X 10"},
    "Platform": "WebMail",
    "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/35.0.1916.153 Safari/537.36",
    "Geo": {"CountryISOCode": "RS", "Country": "Serbia", "City": "Novi Sad"},
    "MessageID": POSTMARK_ID,
    "Metadata": {"a_key": "a_value", "b_key": "b_value"},
    "ReceivedAt": "2019-11-05T16:33:54.9070259Z",
    "Tag": "welcome-email",
    "Recipient": "john@example.com",
}
POSTMARK_CLICK = {
    "RecordType": "Click",
    "MessageStream": "outbound",
    "ClickLocation": "HTML",
    "Client": {"Name": "Chrome 35.0.1916.153", "Company": "Google", "Family": "Chrome"},
    "OS": {"Name": "OS X 10.7 Lion", "Company": "Apple Computer, Inc.", "Family": "OS X 10"},
    "Platform": "Desktop",
    "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/35.0.1916.153 Safari/537.36",
    "OriginalLink": "https://example.com",
    "Geo": {"CountryISOCode": "RS", "Country": "Serbia", "City": "Novi Sad"},
    "MessageID": POSTMARK_ID,
    "Metadata": {"a_key": "a_value", "b_key": "b_value"},
    "ReceivedAt": "2019-11-05T16:33:54.9070259Z",
    "Tag": "welcome-email",
    "Recipient": "john@example.com",
}
POSTMARK_HARD_BOUNCE = {
    "RecordType": "Bounce",
    "MessageStream": "outbound",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "Test",
    "MessageID": POSTMARK_ID,
    "Metadata": {"a_key": "a_value", "b_key": "b_value"},
    "ServerID": 23,
    "Description": "The server was unable to deliver your message "
    "(ex: unknown user, mailbox not found).",
    "Details": "Test bounce details",
    "Email": "John@Example.com",
    "From": "sender@example.com",
    "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": True,
    "Subject": "Test subject",
    "Content": "Return-Path:....",
}
#: The bounce sample with Postmark's soft bounce type.
POSTMARK_SOFT_BOUNCE = {
    **POSTMARK_HARD_BOUNCE,
    "ID": 4323372036854775808,
    "Type": "SoftBounce",
    "TypeCode": 4096,
    "Name": "Soft bounce",
    "Description": "Unable to temporarily deliver this email.",
    "Inactive": False,
}
POSTMARK_SPAM_COMPLAINT = {
    "RecordType": "SpamComplaint",
    "MessageStream": "outbound",
    "ID": 42,
    "Type": "SpamComplaint",
    "TypeCode": 512,
    "Name": "Spam complaint",
    "Tag": "Test",
    "MessageID": POSTMARK_ID,
    "Metadata": {"a_key": "a_value", "b_key": "b_value"},
    "ServerID": 1234,
    "Description": "",
    "Details": "Test spam complaint details",
    "Email": "john@example.com",
    "From": "sender@example.com",
    "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": False,
    "Subject": "Test subject",
    "Content": "<Abuse report dump>",
}
POSTMARK_SUBSCRIPTION_CHANGE = {
    "RecordType": "SubscriptionChange",
    "MessageID": POSTMARK_ID,
    "ServerID": 23,
    "MessageStream": "outbound",
    "ChangedAt": "2020-02-01T10:53:34.416071Z",
    "Recipient": "john@example.com",
    "Origin": "Recipient",
    "SuppressSending": True,
    "SuppressionReason": "ManualSuppression",
    "Tag": "my-tag",
    "Metadata": {"example": "value", "example_2": "value"},
}

# --- SendGrid (a JSON array of events per call) -----------------------------------------
SENDGRID_SMTP_ID = "<14c5d75ce93.dfd.64b469@ismtpd-555>"
_SENDGRID_COMMON = {
    "email": "example@test.com",
    "timestamp": 1513299569,
    "smtp-id": SENDGRID_SMTP_ID,
    "category": "cat facts",
    "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
}
SENDGRID_EVENTS = [
    {**_SENDGRID_COMMON, "event": "processed", "sg_event_id": "rbtnWrG1DVDGGGFHFyun0A=="},
    {
        **_SENDGRID_COMMON,
        "event": "deferred",
        "sg_event_id": "qK1MxfAaE_ukyyNsjxTpkw==",
        "response": "400 try again later",
        "attempt": "5",
    },
    {
        **_SENDGRID_COMMON,
        "event": "delivered",
        "sg_event_id": "hqFbp3HH9WxIM0R2-x2M1Q==",
        "response": "250 OK",
    },
    {
        **_SENDGRID_COMMON,
        "event": "open",
        "sg_event_id": "b_syL8yBQkWv9xQh94BMrQ==",
        "sg_machine_open": False,
        "useragent": "Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; "
        ".NET CLR 2.0.50727)",
        "ip": "255.255.255.255",
    },
    {
        **_SENDGRID_COMMON,
        "event": "click",
        "sg_event_id": "sZROwMGMagFgnOEmSdvhig==",
        "useragent": "Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; "
        ".NET CLR 2.0.50727)",
        "ip": "255.255.255.255",
        "url": "http://www.sendgrid.com/",
    },
    {
        **_SENDGRID_COMMON,
        "event": "bounce",
        "sg_event_id": "ahSCB7xYcXFb-hEaawsPRw==",
        "reason": "500 unknown recipient",
        "status": "5.0.0",
        "type": "bounce",
    },
    {
        **_SENDGRID_COMMON,
        "event": "spamreport",
        "sg_event_id": "37nvH5QBz858KGVYCM4uOA==",
    },
    {
        **_SENDGRID_COMMON,
        "event": "unsubscribe",
        "sg_event_id": "zmzJhfJgAfUSOW80yEbPyw==",
    },
]
#: The bounce event with SendGrid's "blocked" type: the receiving server refusing for now.
SENDGRID_BLOCKED = {
    **SENDGRID_EVENTS[5],
    "sg_event_id": "X_C_clhwSIi4DZcQ0r_nEw==",
    "reason": "550 5.7.1 Service unavailable; Client host blocked",
    "type": "blocked",
}

# --- Mailgun (one JSON object per call, signed with the webhook signing key) ------------
MAILGUN_MESSAGE_ID = "20130503182626.18666.16540@example.org"


def mailgun_event(event_data: dict, token: str) -> dict:
    """Mailgun's webhook body: a signature block and the event's data (the signature
    itself is made by the test, with the test's signing key)."""
    return {
        "signature": {"timestamp": "1529006854", "token": token, "signature": ""},
        "event-data": {
            "timestamp": 1529006854.329574,
            "id": "CPgfbmQMTCKtHW6uIWtuVe",
            "recipient": "alice@example.com",
            "recipient-domain": "example.com",
            "tags": ["my_tag_1", "my_tag_2"],
            "user-variables": {"my_var_1": "Mailgun Variable #1", "my-var-2": "awesome"},
            "message": {
                "headers": {
                    "to": "Alice <alice@example.com>",
                    "message-id": MAILGUN_MESSAGE_ID,
                    "from": "Bob <bob@example.com>",
                    "subject": "Test delivered webhook",
                },
                "attachments": [],
                "size": 111,
            },
            **event_data,
        },
    }


MAILGUN_DELIVERED = {
    "event": "delivered",
    "log-level": "info",
    "envelope": {
        "transport": "smtp",
        "sender": "bob@example.org",
        "sending-ip": "209.61.154.250",
        "targets": "alice@example.com",
    },
    "delivery-status": {
        "tls": True,
        "mx-host": "smtp-in.example.com",
        "code": 250,
        "description": "",
        "session-seconds": 0.4331989288330078,
        "utf8": True,
        "attempt-no": 1,
        "message": "OK",
        "certificate-verified": True,
    },
}
MAILGUN_OPENED = {
    "event": "opened",
    "log-level": "info",
    "geolocation": {"country": "US", "region": "CA", "city": "San Francisco"},
    "ip": "50.56.129.169",
    "client-info": {
        "client-type": "browser",
        "client-os": "OS X",
        "device-type": "desktop",
        "client-name": "Chrome",
        "user-agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_0) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/31.0.1650.57 Safari/537.36",
    },
}
MAILGUN_CLICKED = {**MAILGUN_OPENED, "event": "clicked", "url": "https://example.com/path"}
MAILGUN_FAILED_PERMANENT = {
    "event": "failed",
    "log-level": "error",
    "severity": "permanent",
    "reason": "suppress-bounce",
    "delivery-status": {
        "attempt-no": 1,
        "message": "",
        "code": 605,
        "description": "Not delivering to previously bounced address",
        "session-seconds": 0.0,
    },
}
MAILGUN_FAILED_TEMPORARY = {
    "event": "failed",
    "log-level": "warn",
    "severity": "temporary",
    "reason": "generic",
    "delivery-status": {
        "attempt-no": 1,
        "message": "4.2.2 The email account that you tried to reach is over quota.",
        "code": 452,
        "description": "",
        "session-seconds": 0.0,
    },
}
MAILGUN_COMPLAINED = {"event": "complained", "log-level": "warn"}
MAILGUN_UNSUBSCRIBED = {**MAILGUN_OPENED, "event": "unsubscribed"}

# --- Amazon SES (SES event notifications, wrapped in SNS Notifications) -----------------
SES_MESSAGE_ID = "0000014644fe5ef6-9a483358-9170-4cb4-a269-f5dcdf415321-000000"
_SES_MAIL = {
    "timestamp": "2016-10-14T05:02:16.645Z",
    "source": "sender@example.com",
    "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
    "sendingAccountId": "123456789012",
    "messageId": SES_MESSAGE_ID,
    "destination": ["recipient@example.com"],
    "headersTruncated": False,
    "headers": [
        {"name": "From", "value": "sender@example.com"},
        {"name": "To", "value": "recipient@example.com"},
        {"name": "Subject", "value": "Message sent from Amazon SES"},
    ],
    "commonHeaders": {
        "from": ["sender@example.com"],
        "to": ["recipient@example.com"],
        "messageId": SES_MESSAGE_ID,
        "subject": "Message sent from Amazon SES",
    },
    "tags": {"ses:configuration-set": ["ConfigSet"]},
}
SES_DELIVERY = {
    "eventType": "Delivery",
    "mail": _SES_MAIL,
    "delivery": {
        "timestamp": "2016-10-19T23:21:04.133Z",
        "processingTimeMillis": 11893,
        "recipients": ["recipient@example.com"],
        "smtpResponse": "250 2.6.0 Message received",
        "reportingMTA": "mta.example.com",
    },
}
SES_OPEN = {
    "eventType": "Open",
    "mail": _SES_MAIL,
    "open": {
        "ipAddress": "192.0.2.1",
        "timestamp": "2017-08-09T22:00:19.652Z",
        "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 10_3_3 like Mac OS X) "
        "AppleWebKit/603.3.8 (KHTML, like Gecko) Mobile/14G60",
    },
}
SES_CLICK = {
    "eventType": "Click",
    "mail": _SES_MAIL,
    "click": {
        "ipAddress": "192.0.2.1",
        "link": "http://docs.aws.amazon.com/ses/latest/DeveloperGuide/send-email-smtp.html",
        "linkTags": {"samplekey0": ["samplevalue0"]},
        "timestamp": "2017-08-09T23:51:25.570Z",
        "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/60.0.3112.90 Safari/537.36",
    },
}
SES_BOUNCE_PERMANENT = {
    "eventType": "Bounce",
    "mail": _SES_MAIL,
    "bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [
            {
                "emailAddress": "recipient@example.com",
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
            }
        ],
        "timestamp": "2017-08-05T00:41:02.669Z",
        "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
        "reportingMTA": "dsn; mta.example.com",
    },
}
#: The bounce sample with SES's transient bounce type (a full mailbox).
SES_BOUNCE_TRANSIENT = {
    **SES_BOUNCE_PERMANENT,
    "bounce": {
        **SES_BOUNCE_PERMANENT["bounce"],
        "bounceType": "Transient",
        "bounceSubType": "MailboxFull",
    },
}
SES_COMPLAINT = {
    "eventType": "Complaint",
    "mail": _SES_MAIL,
    "complaint": {
        "feedbackId": "0100015e2bb1e1d3-f7e2a2ac-6e83-44f0-b4e2-4d6b3e2a1f11-000000",
        "complaintSubType": None,
        "complainedRecipients": [{"emailAddress": "recipient@example.com"}],
        "timestamp": "2017-08-05T00:41:02.669Z",
        "userAgent": "Mozilla/5.0 (Windows NT 6.1) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/60.0.3112.90 Safari/537.36",
        "complaintFeedbackType": "abuse",
        "arrivalDate": "2017-08-05T00:41:02.669Z",
    },
}


def sns_notification(ses_event: dict, sns_message_id: str) -> dict:
    """The SNS Notification that carries an SES event to an HTTPS subscription."""
    return {
        "Type": "Notification",
        "MessageId": sns_message_id,
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events",
        "Subject": "Amazon SES Email Event Notification",
        "Message": json.dumps(ses_event),
        "Timestamp": "2017-08-05T00:41:03.123Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7"
        "fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8I"
        "KvO61GWB6jI9b5+gLPoBc1Q=",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/"
        "SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&"
        "SubscriptionArn=arn:aws:sns:us-east-1:123456789012:ses-events:"
        "c9a36b6a-1c9c-4b4e-b2cb-9f2e1f1e4f3b",
    }


# --- Brevo (one JSON object per call) ---------------------------------------------------
BREVO_MESSAGE_ID = "<201798300811.5787683@relay.domain.com>"
_BREVO_COMMON = {
    "email": "example@domain.com",
    "id": 26224,
    "date": "YYYY-MM-DD HH:mm:ss",
    "ts": 1598634509,
    "message-id": BREVO_MESSAGE_ID,
    "ts_event": 1598034509,
    "subject": "Subject Line",
    "tag": '["transactionalTag"]',
    "sending_ip": "185.41.28.109",
    "ts_epoch": 1598634509223,
    "tags": ["myFirstTransactional"],
}
BREVO_DELIVERED = {**_BREVO_COMMON, "event": "delivered"}
BREVO_OPENED = {**_BREVO_COMMON, "event": "unique_opened"}
BREVO_CLICK = {**_BREVO_COMMON, "event": "click", "link": "https://domain.com/path"}
BREVO_HARD_BOUNCE = {
    **_BREVO_COMMON,
    "event": "hard_bounce",
    "ts_epoch": 1598634509224,
    "reason": "server_down",
}
#: The hard bounce sample as Brevo's soft bounce.
BREVO_SOFT_BOUNCE = {**BREVO_HARD_BOUNCE, "event": "soft_bounce", "ts_epoch": 1598634509225}
BREVO_COMPLAINT = {**_BREVO_COMMON, "event": "spam", "ts_epoch": 1598634509226}
BREVO_UNSUBSCRIBED = {**_BREVO_COMMON, "event": "unsubscribe", "ts_epoch": 1598634509227}
