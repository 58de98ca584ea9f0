"""A small Django app for webserver3i.py, its settings in this module.

Django reads exactly CONTENT_LENGTH bytes of wsgi.input: a server that
passes a chunked body on without one gives Django an empty body, silently.
"""
import hashlib

from django.conf import settings

settings.configure(
    DEBUG=False, SECRET_KEY='only for tests', ALLOWED_HOSTS=['*'],
    ROOT_URLCONF=__name__, MIDDLEWARE=[], USE_TZ=True)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import (  # noqa: E402
    HttpResponse, JsonResponse, StreamingHttpResponse)
from django.urls import path  # noqa: E402


def index(request):
    return HttpResponse('Hello from Django')


def stream(request):
    """A streamed body, of no length known up front: one piece per size in
    the query (e.g. ?1,0,5), piece i made of the i-th letter."""
    sizes = [int(size) for size in request.META['QUERY_STRING'].split(',')]
    return StreamingHttpResponse(bytes([97 + i % 26]) * size
                                 for i, size in enumerate(sizes))


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


urlpatterns = [path('', index), path('sha256', sha256),
               path('stream', stream)]
app = get_wsgi_application()
