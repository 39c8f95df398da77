from django.apps import AppConfig


class SiteConfig(AppConfig):
    name = "tests.integration.django_site"
    label = "django_site"
