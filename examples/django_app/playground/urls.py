"""The Playground's URLs: the HTTP contract both example apps implement.

Each view accepts only its methods. The sign-in form and the JSON API are exempt from
Django's CSRF tokens: the shared scenario script signs in without a token, and the API
reads only ``application/json`` bodies, which an HTML form on another site cannot send
(and the session cookie is ``SameSite=Lax``). Every other form carries
``{{ csrf_input }}``.
"""

from __future__ import annotations

from django.urls import path  # type: ignore[import-untyped]
from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]
from django.views.decorators.http import (  # type: ignore[import-untyped]
    require_GET,
    require_http_methods,
    require_POST,
)

from examples.django_app.playground import views

app_name = "playground"

urlpatterns = [
    path("login", csrf_exempt(require_http_methods(["GET", "POST"])(views.login))),
    path("logout", require_POST(views.logout)),
    path("api/signup", csrf_exempt(require_POST(views.sign_up))),
    path("", require_GET(views.home)),
    path("users/<str:user_id>", require_GET(views.profile)),
    path("users/<str:user_id>/friend-request", require_POST(views.friend_request)),
    path("suggestions", require_GET(views.suggestions)),
    path("requests", require_GET(views.requests)),
    path("requests/<int:request_id>/accept", require_POST(views.accept_request)),
    path("messages", require_GET(views.messages)),
    path("messages/<str:user_id>", require_POST(views.send_message)),
    path("location", require_POST(views.check_in)),
    path("settings", require_http_methods(["GET", "POST"])(views.settings)),
    path("parent", require_GET(views.parent)),
    path("parent/<str:child_id>/settings", require_POST(views.parent_settings)),
    path("parent/<str:child_id>/consents", require_POST(views.parent_grant)),
    path("parent/<str:child_id>/consents/<str:grant_id>/revoke", require_POST(views.parent_revoke)),
    path("age", require_http_methods(["GET", "POST"])(views.age)),
    path("age/forget", require_POST(views.age_forget)),
    path("api/me", require_GET(views.me_json)),
    path(".well-known/jwks.json", require_GET(views.jwks)),
    path("api/users/<str:user_id>", require_GET(views.profile_json)),
    path("api/suggestions", require_GET(views.suggestions_json)),
    path("api/messages", require_GET(views.messages_json)),
    path("api/messages/<str:user_id>", csrf_exempt(require_POST(views.send_message_json))),
    path("api/settings", csrf_exempt(require_POST(views.change_setting_json))),
    path("api/location", csrf_exempt(require_POST(views.check_in_json))),
]
