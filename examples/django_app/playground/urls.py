"""The Playground's URLs: the HTTP contract both example apps implement.

Each view accepts only its methods. The sign-in form and the JSON API are exempt from
Django's CSRF tokens: the shared scenario script signs in without a token, and the API
reads only ``application/json`` bodies, which an HTML form on another site cannot send
(and the session cookie is ``SameSite=Lax``). Every other form carries
``{{ csrf_input }}``, the photo form too (its script posts the form's fields).
"""

from __future__ import annotations

from django.urls import path  # type: ignore[import-untyped]
from django.views.decorators.csrf import csrf_exempt  # type: ignore[import-untyped]

from examples.django_app.playground import photos, reports, views
from examples.django_app.playground.views import methods

# Each view's methods; anything else is the styled 405 page.
get_only = methods("GET", "HEAD")
post_only = methods("POST")

app_name = "playground"

urlpatterns = [
    path("login", csrf_exempt(methods("GET", "HEAD", "POST")(views.login))),
    path("logout", post_only(views.logout)),
    path("api/signup", csrf_exempt(post_only(views.sign_up))),
    path("", get_only(views.home)),
    path("users/<str:user_id>", get_only(views.profile)),
    path(
        "users/<str:user_id>/friend-request",
        post_only(views.friend_request),
        name="friend_request",  # the grooming-risk signals hear of these (reports.py)
    ),
    path("suggestions", get_only(views.suggestions)),
    path("requests", get_only(views.requests)),
    path("requests/<int:request_id>/accept", post_only(views.accept_request)),
    path("messages", get_only(views.messages)),
    path("messages/<str:user_id>", post_only(views.send_message), name="send_message"),
    path("location", post_only(views.check_in)),
    path("settings", methods("GET", "HEAD", "POST")(views.settings)),
    path("parent", get_only(views.parent)),
    path("parent/<str:child_id>/settings", post_only(views.parent_settings)),
    path("parent/<str:child_id>/consents", post_only(views.parent_grant)),
    path("parent/<str:child_id>/consents/<str:grant_id>/revoke", post_only(views.parent_revoke)),
    path("age", methods("GET", "HEAD", "POST")(views.age)),
    path("age/forget", post_only(views.age_forget)),
    path("api/me", get_only(views.me_json)),
    path(".well-known/jwks.json", get_only(views.jwks)),
    path("api/users/<str:user_id>", get_only(views.profile_json)),
    path("api/suggestions", get_only(views.suggestions_json)),
    path("api/messages", get_only(views.messages_json)),
    path("api/messages/<str:user_id>", csrf_exempt(post_only(views.send_message_json))),
    path("api/settings", csrf_exempt(post_only(views.change_setting_json))),
    path("api/location", csrf_exempt(post_only(views.check_in_json))),
    *reports.urlpatterns,
    *photos.urlpatterns,
]
