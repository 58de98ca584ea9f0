"""A small Django app for webserver3h.py, its settings in this module.

Django reads exactly CONTENT_LENGTH bytes of wsgi.input: a server that
passes a chunked body on without one gives Django an empty body, silently.
"""
import hashlib

from django.conf import settings

settings.configure(
    DEBUG=False, SECRET_KEY='only for tests', ALLOWED_HOSTS=['*'],
    ROOT_URLCONF=__name__, MIDDLEWARE=[], USE_TZ=True)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


def index(request):
    return HttpResponse('Hello from Django')


def sha256(request):
    """The body's SHA-256, checked here against the X-SHA256 field."""
    digest, length = hashlib.sha256(), 0
    for data in iter(lambda: request.read(65536), b''):
        digest.update(data)
        length += len(data)
    reply = {'length': length, 'sha256': digest.hexdigest(),
             'CONTENT_LENGTH': request.META.get('CONTENT_LENGTH')}
    match = reply['sha256'] == request.META.get('HTTP_X_SHA256')
    return JsonResponse(reply, status=200 if match else 422)


urlpatterns = [path('', index), path('sha256', sha256)]
app = get_wsgi_application()
