from django.conf import settings


def test_tests_run_on_postgresql_and_redis():
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings.CACHES["default"]["BACKEND"] == "config.cache.RedisCache"
    assert settings.CELERY_BROKER_TRANSPORT == "config.broker:RedisTransport"
