"""The hello app that 3h and the wsgiref peer serve in tests/bench.py."""


def app(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'Hello, World!\n']
