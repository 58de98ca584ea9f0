"""The hello app that 3i and its peers serve in tools/bench.py."""
import os
import time


def app(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', '14')])
    return [b'Hello, World!\n']


def sleepy(environ, start_response):
    """Sleeps QUERY_STRING seconds (default 1): many requests in flight."""
    time.sleep(float(environ.get('QUERY_STRING') or 1))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'slept\n']


def gated(environ, start_response):
    """Waits in open() of the FIFO named by LSBAWS_GATE (the server's
    environment) until the test opens it to write: requests held in the app."""
    with open(os.environ['LSBAWS_GATE'], 'rb'):
        pass
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'through\n']
