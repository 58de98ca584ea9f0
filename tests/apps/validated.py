"""WSGI apps for testing webserver3i.py; `app` is wrapped in wsgiref.validate.

The validator raises on a server error and warns on a doubtful one: every
warning is printed (the tests look for 'Warning' in the server's output).
"""
import hashlib
import json
import os
import subprocess
import sys
import time
import warnings
from wsgiref.validate import validator

warnings.simplefilter('always')


class Body(object):
    """An iterable that says on stderr when the server closes it."""

    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        sys.stderr.write('app: response closed\n')


def peak_rss_kib():
    """This process's peak resident memory so far (VmHWM), in KiB."""
    with open('/proc/self/status') as f:
        return int(next(line for line in f
                        if line.startswith('VmHWM:')).split()[1])


def echo(environ, start_response):
    path = environ['PATH_INFO']
    length = int(environ.get('CONTENT_LENGTH') or 0)
    digest, peak = hashlib.sha256(), None
    if path == '/lines':  # wsgi.input read line by line
        body = b''.join(environ['wsgi.input'].readlines())
    elif path == '/digest':  # read in pieces: never whole in memory
        body, left = b'', length
        while left:
            data = environ['wsgi.input'].read(min(left, 65536))
            digest.update(data)
            left -= len(data)
        peak = peak_rss_kib()
    else:
        body = environ['wsgi.input'].read(length) if length else b''
    if path == '/write':  # the legacy write() callable
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'written ')
        return Body([b'then returned\n'])
    if path == '/exc_info':  # an error after start_response, before the body
        start_response('200 OK', [('Content-Type', 'text/plain')])
        try:
            raise ValueError('changed my mind')
        except ValueError:
            start_response('503 Service Unavailable',
                           [('Content-Type', 'text/plain')], sys.exc_info())
        return Body([b'sorry\n'])
    if path == '/subprocess':  # the app waits for its own child
        child = subprocess.Popen(['sh', '-c', 'exit 3'])
        # Block until it has exited, without reaping it: a SIGCHLD handler
        # left in place by the server would reap it now and steal its status.
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        body = str(child.wait()).encode()
    keys = ('REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING',
            'CONTENT_TYPE', 'CONTENT_LENGTH', 'SERVER_NAME', 'SERVER_PORT',
            'SERVER_PROTOCOL', 'REMOTE_ADDR', 'HTTP_HOST', 'HTTP_X_TWICE',
            'HTTP_X_AUTH', 'HTTP_TRANSFER_ENCODING', 'HTTP_X_TRAILER',
            'wsgi.url_scheme', 'wsgi.multithread', 'wsgi.multiprocess',
            'wsgi.run_once', 'wsgi.input_terminated')
    reply = {key: environ.get(key) for key in keys}
    if path != '/digest':
        digest.update(body)
        length = len(body)
    reply.update(body_length=length, body_sha256=digest.hexdigest(),
                 body_start=body[:100].decode('latin-1'), peak_rss_kib=peak)
    data = json.dumps(reply, sort_keys=True).encode() + b'\n'
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(data)))])
    return Body([data[:10], b'', data[10:]])


app = validator(echo)


def streamed(environ, start_response):
    """A body of no length known up front: one piece per size in the query
    (e.g. ?1,0,5), piece i made of the i-th letter; through the legacy
    write() for /write; with the status for /204 and /304."""
    sizes = [int(size) for size in environ['QUERY_STRING'].split(',')]
    pieces = [bytes([97 + i % 26]) * size for i, size in enumerate(sizes)]
    path = environ['PATH_INFO']
    if path in ('/204', '/304'):  # no Content-Type: they have no body
        start_response(path[1:] + ' Whatever', [])
        return Body(pieces)
    write = start_response('200 OK', [('Content-Type', 'text/plain')])
    if path == '/write':
        for piece in pieces:
            write(piece)
        return Body([])
    return Body(pieces)


stream = validator(streamed)


def sleepy(environ, start_response):
    seconds = float(environ['QUERY_STRING'] or 1)
    sys.stderr.write('app: sleeping {0:g} s\n'.format(seconds))
    sys.stderr.flush()
    time.sleep(seconds)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'slept\n']


def failing(environ, start_response):
    raise RuntimeError('the app is broken')


def endless(environ, start_response):
    """A response far larger than any socket buffer, for clients that leave."""
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    return (b'x' * 65536 for _ in range(10000))


def big(environ, start_response):
    """QUERY_STRING bytes in one chunk, with no Content-Length: only a reset
    would tell the client that it did not get them all."""
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    return [b'x' * int(environ['QUERY_STRING'])]


def midway(environ, start_response):
    """Fails after its first chunk has gone out."""
    start_response('200 OK', [('Content-Type', 'text/plain')])
    yield b'the first half\n'
    raise RuntimeError('the app broke midway')
