"""The Playground example app on Django: ``python examples/django_app/manage.py runserver``."""
