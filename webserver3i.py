# -*- coding: utf-8 -*-
###########################################################################
# Hardened WSGI server - webserver3i.py                                   #
#                                                                         #
# Tested with Python 3.6-3.13 on Linux                                    #
#                                                                         #
# webserver3h.py hardened: one step beyond the article. Part 2's WSGI     #
# server, concurrent the way webserver3g.py is (fork() per connection,    #
# SIGCHLD + waitpid(-1, WNOHANG), accept() restarted on EINTR); beyond    #
# 3g, a failing fork() or accept() never kills the parent, and requests   #
# are parsed and timed as RFC 9112 and RFC 9110 say.                      #
#                                                                         #
# It reads top-down: the server, then what one request calls in the       #
# order it calls it, then the grammar, the limits, and the command line.  #
#                                                                         #
# Usage: python webserver3i.py module:callable; from the repo's root:     #
#   python webserver3i.py tests.apps.flaskapp:app  (--help: the settings) #
###########################################################################
import sys
# First of all, so that Python 2 says this in one line rather than fail on
# an import (the file is declared UTF-8 above so that Python 2 can parse it)
if sys.version_info < (3, 6):
    sys.exit('webserver3i.py needs Python 3.6+, not ' +
             sys.version.split()[0])

import argparse
import copy
import errno
import http
import importlib
import io
import math
import os
import re
import signal
import socket
import struct
import tempfile
import time
import traceback
import urllib.parse
from wsgiref.handlers import format_date_time

# Settings, from the environment (--help lists them) --------------------------

try:  # HOST and PORT come from the environment; PORT=0 picks a free port
    HOST = os.environ.get('HOST', '127.0.0.1')
    PORT = int(os.environ.get('PORT', '8888'))
except ValueError:
    raise SystemExit('PORT must be a port number, not {0!r}'.format(
        os.environ['PORT']))
SERVER_ADDRESS = (HOST, PORT)
try:  # how long a child waits for a client that sends or takes nothing
    REQUEST_TIMEOUT = float(os.environ.get('REQUEST_TIMEOUT', '30'))
    if not (math.isfinite(REQUEST_TIMEOUT) and REQUEST_TIMEOUT > 0):
        raise ValueError
except ValueError:
    raise SystemExit('REQUEST_TIMEOUT must be a number of seconds above 0, '
                     'not {0!r}'.format(os.environ['REQUEST_TIMEOUT']))
try:  # the largest request body, sized or chunked; larger ones get a 413
    MAX_BODY_BYTES = os.environ.get('MAX_BODY_BYTES', str(10 * 1024 ** 2))
    if not re.match(r'[0-9]+\Z', MAX_BODY_BYTES):
        raise ValueError
    MAX_BODY_BYTES = int(MAX_BODY_BYTES)
except ValueError:
    raise SystemExit('MAX_BODY_BYTES must be a whole number of bytes, '
                     'not {0!r}'.format(os.environ['MAX_BODY_BYTES']))
REQUEST_QUEUE_SIZE = 1024  # listen()'s backlog, where a burst of clients waits


# The server: listen, accept and fork; in each child, serve one request -------

class WSGIServer(object):
    """Part 2's server, in Part 2's shape: in the parent it listens, accepts
    and forks; in each forked child the same object then serves that one
    connection's request, so that its attributes below are the request's.
    """

    # A child serves one request. What it knows of its answer:
    request = None         # the Request
    status = None          # '200 OK', from start_response()
    response_headers = ()  # the app's, from start_response()
    headers_sent = False   # the head is out: too late for an error status
    has_body = True        # not after a HEAD, nor a 204 or 304
    chunked = False        # the body goes out in chunks
    bytes_sent = 0         # body bytes, for the access log
    complete = False       # the whole answer is out (then it only drains)
    note = ''              # how it ended, if not answered: for the log

    def __init__(self, server_address):
        # 3g's listening socket, on server_address
        listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listen_socket.bind(server_address)
        except (socket.error, OverflowError) as e:
            listen_socket.close()
            raise SystemExit(
                'Cannot listen on {0}: {1}'.format(server_address, e))
        listen_socket.listen(REQUEST_QUEUE_SIZE)
        self.listen_socket = listen_socket
        # SERVER_NAME and SERVER_PORT, the same in every request's environ
        self.server_name = server_address[0] or socket.gethostname()
        self.server_port = listen_socket.getsockname()[1]

    def set_app(self, application):
        self.application = application

    def serve_forever(self):
        listen_socket = self.listen_socket

        while True:
            try:
                client_connection, client_address = listen_socket.accept()
            except IOError as e:
                code, msg = e.args
                # restart 'accept' if it was interrupted
                if code == errno.EINTR:
                    continue
                elif code in ACCEPT_LATER:  # e.g. out of descriptors
                    self.back_off(e)  # the queue waits; nothing spins
                    continue
                else:
                    raise

            try:
                pid = os.fork()
            except OSError as e:  # EAGAIN, ENOMEM: out of processes
                self.refuse(client_connection)  # a 503 that never blocks
                self.back_off(e)
                continue
            if pid == 0:  # child
                listen_socket.close()  # close child copy
                self.handle_one_request(client_connection, client_address)
                client_connection.close()
                os._exit(0)  # child exits here
            else:  # parent
                client_connection.close()  # close parent copy and loop over

    def handle_one_request(self, client_connection, client_address):
        """Runs in the child. A request ends in one of four ways, each told
        by its access line: answered by the app; answered with an error (a
        bad request, a stalled client, a failing app); client gone (nobody
        left to answer); or cut short (the server stopped first)."""
        self.client_connection = client_connection
        self.client_address = client_address
        self.request = Request(client_connection)
        self.take_stop_signals()  # Ctrl-C: finish this answer first
        try:
            if self.parse_request():  # False: the client sent nothing
                environ = self.get_environ()
                # The app gives start_response() the head, and returns the body
                body = self.application(environ, self.start_response)
                self.finish_response(body)
        except HTTPError as e:  # a bad request: the app is not called
            self.send_error(e.status, e.detail)
        except ClientGone as e:  # nobody left to answer
            self.note = 'client gone: {0}'.format(e)
        except ClientStalled as e:  # a 408, or the answer cut short
            self.note = 'client stalled: {0}'.format(e)
            self.send_error(http.HTTPStatus.REQUEST_TIMEOUT, str(e))
        except BaseException:  # the app failed: 500, traceback on stderr
            traceback.print_exc()
            self.send_error(http.HTTPStatus.INTERNAL_SERVER_ERROR)
        finally:
            self.log_request()

    def parse_request(self):
        """Read the request head; False if the client sent nothing."""
        request = self.request
        # The whole request head must arrive within REQUEST_TIMEOUT.
        request.reader.deadline = time.monotonic() + REQUEST_TIMEOUT
        if not request.read_request_line():
            return False
        request.read_headers()
        request.reader.deadline = None  # the body: a timeout for each wait
        request.read_body(self.send_continue)
        return True

    def get_environ(self):
        # PEP 3333's keys: WSGI's own, the request's CGI ones, then its fields
        request = self.request
        environ = {
            'wsgi.version': (1, 0),
            'wsgi.url_scheme': 'http',
            'wsgi.input': request.body,
            'wsgi.errors': sys.stderr,
            'wsgi.multithread': False,
            'wsgi.multiprocess': True,  # a process per request
            'wsgi.run_once': False,  # the app outlives a request
            'wsgi.input_terminated': True,  # the body ends at its end
            'REQUEST_METHOD': request.method,  # GET
            'SCRIPT_NAME': '',
            'PATH_INFO': urllib.parse.unquote(request.path, 'latin-1'),
            'QUERY_STRING': request.query,  # name=world
            'SERVER_NAME': self.server_name,  # localhost
            'SERVER_PORT': str(self.server_port),  # 8888
            'SERVER_PROTOCOL': request.version,  # HTTP/1.1
            'REMOTE_ADDR': self.client_address[0],
            'REMOTE_PORT': str(self.client_address[1]),
        }
        environ.update(request.cgi_fields())  # CONTENT_*, HTTP_*
        return environ

    def start_response(self, status, response_headers, exc_info=None):
        if exc_info:
            try:
                if self.headers_sent:  # too late to change the status
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError(
                'start_response() called twice without exc_info')
        check_response(status, response_headers)
        self.status, self.response_headers = status, list(response_headers)
        return self.write  # for an app that writes its body (PEP 3333)

    def finish_response(self, body):
        """Send the app's body (the head goes with its first bytes), then
        FIN, then drain what the app left unread."""
        try:
            for data in body:
                if data:  # the head goes out with the first non-empty chunk
                    self.write(data)
                    if not self.has_body:  # e.g. HEAD: the head is all
                        break
            if not self.headers_sent:
                self.write(b'')
        finally:
            if hasattr(body, 'close'):
                body.close()
        if self.chunked:  # last-chunk, no trailer section (RFC 9112 §7.1)
            self.send(b'0\r\n\r\n')
        end(self.client_connection)
        self.complete = True
        if self.request.body.left > 0:  # the app left some of the body
            linger(self.client_connection)

    # Sending: the app's answer, an error answer, and the access line --------

    def write(self, data):
        if self.status is None:
            raise AssertionError('write() before start_response()')
        if not self.headers_sent:  # with the server's fields and framing
            self.has_body, self.chunked = framing(
                self.request.method, self.request.version, self.status,
                self.response_headers)
            self.send(response_head(self.status, self.response_headers + (
                [('Transfer-Encoding', 'chunked')] if self.chunked else [])))
            self.headers_sent = True
        if data and self.has_body:
            self.bytes_sent += len(data)
            if self.chunked:  # chunk-size CRLF data CRLF (RFC 9112 §7.1)
                data = b'%x\r\n%s\r\n' % (len(data), data)
            self.send(data)

    def send(self, data):
        """Send all of data. Time out only when the client takes none of it
        for REQUEST_TIMEOUT: a slow reader that keeps reading gets it all."""
        view = memoryview(data)
        try:
            self.client_connection.settimeout(REQUEST_TIMEOUT)
            while view:
                view = view[self.client_connection.send(view):]
        except socket.timeout:
            raise ClientStalled(
                'took nothing for {0:g} s'.format(REQUEST_TIMEOUT))
        except OSError as e:
            raise ClientGone(e)

    def send_continue(self):  # RFC 9110 §10.1.1: the client may send its body
        self.send(b'HTTP/1.1 100 Continue\r\n\r\n')

    def send_error(self, status, detail=''):
        """Answer with an error status, then let the client read it; once
        the head is out it is too late: cut the answer short instead."""
        if self.headers_sent:
            abort(self.client_connection)
            return
        self.status, head, body = error_response(status, detail)
        if self.request.method == 'HEAD':  # no body (RFC 9110 §9.3.2)
            body = b''
        try:
            self.send(head + body)
            end(self.client_connection)
        except ClientLost:
            self.note = self.note or 'client gone'
        else:
            self.bytes_sent, self.complete = len(body), True
            linger(self.client_connection)

    def log_request(self):
        # A concise access line, from the child that served it, in one write
        sys.stdout.write('[pid {0}] {1} "{2}" {3} {4}{5}\n'.format(
            os.getpid(), self.client_address[0],
            self.request.line.translate(LOG_ESCAPES),
            self.status.split(' ')[0] if self.status else '-',
            self.bytes_sent, self.note and ' (' + self.note + ')'))
        sys.stdout.flush()
        sys.stderr.flush()

    # The parent, out of processes or descriptors ----------------------------

    def back_off(self, error):
        """The parent is out of something: say so, and give it time."""
        print('WSGIServer: {0}; retrying in {1:g} s'.format(
            error.strerror, BACKOFF_SECONDS))
        time.sleep(BACKOFF_SECONDS)

    def refuse(self, client_connection):
        """No child to serve this connection: a best-effort 503, then close."""
        status, head, body = error_response(
            http.HTTPStatus.SERVICE_UNAVAILABLE, '', [('Retry-After', '1')])
        try:
            client_connection.setblocking(False)
            client_connection.send(head + body)
            client_connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        client_connection.close()

    # A child's stop signals: Ctrl-C lets it finish its answer ---------------

    def take_stop_signals(self):
        """In a child: Ctrl-C signals the whole process group, children too;
        each finishes its answer first, within REQUEST_TIMEOUT."""
        # The app may run subprocesses: let it wait for its own children.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, self.finish_soon)
        signal.signal(signal.SIGTERM, self.finish_soon)
        signal.signal(signal.SIGALRM, self.give_up)

    def finish_soon(self, signum, frame):
        """Ctrl-C or SIGTERM in a child: REQUEST_TIMEOUT more seconds."""
        if not signal.getitimer(signal.ITIMER_REAL)[0]:
            signal.setitimer(signal.ITIMER_REAL, REQUEST_TIMEOUT)

    def give_up(self, signum, frame):
        """The server stopped and this request did not finish in time."""
        if not self.complete:  # (else it was only draining the input)
            abort(self.client_connection)
            self.note = 'cut short: the server stopped'
        self.log_request()
        os._exit(1)


def grim_reaper(signum, frame):
    while True:
        try:
            pid, status = os.waitpid(
                -1,          # Wait for any child process
                 os.WNOHANG  # Do not block and return EWOULDBLOCK error
            )
        except OSError:
            return

        if pid == 0:  # no more zombies
            return


def make_server(server_address, application):
    signal.signal(signal.SIGCHLD, grim_reaper)
    server = WSGIServer(server_address)
    server.set_app(application)
    warm_up(server)
    return server


# Reading: the request, the client's bytes, the body for the app --------------

class Request(object):
    """One request, read from the client as RFC 9112 frames it: one method
    for each part of the grammar, in the order they arrive."""

    def __init__(self, client_connection):
        self.reader = SocketReader(client_connection)  # timed waits
        self.rfile = io.BufferedReader(self.reader)
        self.line = '-'         # the request line, for the access log
        self.method = None      # GET
        self.path = ''          # /hello
        self.query = ''         # name=world
        self.authority = None   # example.com:80, from an absolute-form target
        self.version = None     # HTTP/1.1
        self.headers = []       # [(name, value)], names lower-cased
        self.length = None      # of the body, if it has one (decoded)
        self.body = None        # wsgi.input

    def read_request_line(self):
        """method SP request-target SP HTTP-version (RFC 9112 §3); False if
        the client sent nothing."""
        for _ in range(MAX_EMPTY_LINES):  # RFC 9112 §2.2: ignore empty lines
            line = self.readline(MAX_REQUEST_LINE + 1)
            if line not in (b'\r\n', b'\n'):
                break
        if not line:
            return False
        if len(line) > MAX_REQUEST_LINE:
            raise HTTPError(414)
        self.line = line_text(line)
        words = self.line.split(' ')  # RFC 9112 §3: single SPs only
        if len(words) != 3 or not METHOD.match(words[0]):
            raise HTTPError(400, 'Malformed request line')
        self.method, target, self.version = words
        if not HTTP_VERSION.match(self.version):
            raise HTTPError(400, 'Malformed request line')
        if self.version not in SERVED_VERSIONS:
            raise HTTPError(505)
        self.read_target(target)
        return True

    def read_target(self, target):
        """The request target (RFC 9112 §3.2): path, query and authority."""
        if not TARGET.match(target):
            raise HTTPError(400, 'Bad request target')
        if self.method == 'CONNECT':  # authority-form: this is no proxy
            raise HTTPError(501, 'CONNECT is not supported')
        if target.startswith('/'):  # origin-form
            self.path, _, self.query = target.partition('?')
        elif target == '*' and self.method == 'OPTIONS':  # asterisk-form
            self.path = ''  # PATH_INFO '' (PEP 3333 allows no '*')
        elif ABSOLUTE_FORM.match(target):  # absolute-form: http://host/path
            try:
                url = urllib.parse.urlsplit(target)
                valid = (url.scheme.lower() in ('http', 'https') and
                         url.hostname)
            except ValueError:  # e.g. a bad IPv6 address or port
                valid = False
            if not valid:
                raise HTTPError(400, 'Bad request target')
            if '@' in url.netloc:  # RFC 9110 §4.2.4: userinfo is an error
                raise HTTPError(400, 'userinfo in the request target')
            self.path, self.query = url.path or '/', url.query
            self.authority = url.netloc
        else:
            raise HTTPError(400, 'Bad request target')

    def read_headers(self):
        """The header section, then the fields it may hold only once."""
        self.headers = self.read_fields()
        names = [name for name, value in self.headers]
        for name in SINGLE_FIELDS:  # RFC 9112 §3.2, RFC 9110 §8.3, §8.6
            if names.count(name) > 1:
                raise HTTPError(400, 'More than one {0}'.format(name))
        host = self.header('host')
        if self.version == 'HTTP/1.1' and host is None:  # RFC 9112 §3.2
            raise HTTPError(400, 'No Host')
        if host is not None and not HOST_FIELD.match(host):
            raise HTTPError(400, 'Bad Host')

    def read_fields(self, trailers=False):
        """Field lines up to the blank line (RFC 9112 §5), as (name, value)
        pairs, the name lower-cased; a name with '_' is dropped. Or those of
        the trailer section (RFC 9112 §7.1.2), where some names are refused.
        """
        fields, size = [], 0
        for _ in range(MAX_HEADERS + 1):  # every line counts, dropped or not
            line = self.readline(MAX_HEADER_BYTES + 1 - size)
            size += len(line)
            if size > MAX_HEADER_BYTES:
                raise HTTPError(431)
            if line in (b'\r\n', b'\n'):
                return fields
            if trailers and not line.endswith(b'\n'):
                raise body_cut_short('within the trailer section')
            # No space before the colon, no obs-fold (RFC 9112 §5.1, §5.2)
            name, colon, value = line_text(line).partition(':')
            value = value.strip(OWS)
            if not colon or not TOKEN.match(name):
                raise HTTPError(400, 'Malformed header')
            if not FIELD_VALUE.match(value):
                raise HTTPError(
                    400, 'Control character in header {0}'.format(name))
            if trailers and name.lower() in FORBIDDEN_TRAILERS:
                raise HTTPError(400, '{0} in the trailer section'.format(name))
            # A name with '_' would pose as its '-' twin in the environ
            # (X_Auth as HTTP_X_AUTH): drop it.
            if '_' not in name:
                fields.append((name.lower(), value))
        raise HTTPError(431)  # more than MAX_HEADERS lines

    def read_body(self, send_continue):
        """How the body is framed (RFC 9112 §6): Content-Length bytes, read
        from the socket as the app asks, or a chunked body, decoded first.
        Either way wsgi.input holds exactly the body."""
        chunked = self.transfer_coding_is_chunked()
        length = self.header('content-length')
        if chunked and length is not None:  # RFC 9112 §6.3: smuggling
            raise HTTPError(400, 'Transfer-Encoding with Content-Length')
        expects_continue = (  # RFC 9110 §10.1.1
            self.version == 'HTTP/1.1' and
            (self.header('expect') or '').lower() == '100-continue')
        if chunked:
            if expects_continue:
                send_continue()
            self.length, self.body = self.read_chunked()
            return
        if length is None:
            length = 0
        elif not DIGITS.match(length):  # RFC 9110 §8.6: digits only
            raise HTTPError(400, 'Bad Content-Length')
        elif int(length) > MAX_BODY_BYTES:
            raise HTTPError(413)
        else:
            length = self.length = int(length)
        self.body = InputWrapper(self.rfile, length, send_continue
                                 if length and expects_continue else None)

    def transfer_coding_is_chunked(self):
        """Transfer-Encoding (RFC 9112 §6.1): absent, or chunked alone."""
        values = [value for name, value in self.headers
                  if name == 'transfer-encoding']
        if not values:
            return False
        if self.version != 'HTTP/1.1':  # RFC 9112 §6.1: faulty framing
            raise HTTPError(400, 'Transfer-Encoding in HTTP/1.0')
        codings = [coding.strip(OWS).lower()  # RFC 9110 §5.6.1: a list
                   for value in values for coding in value.split(',')
                   if coding.strip(OWS)]
        if codings[-1:] != ['chunked']:  # RFC 9112 §6.3
            raise HTTPError(400, 'chunked is not the final transfer coding')
        if codings.count('chunked') > 1:  # RFC 9112 §6.1
            raise HTTPError(400, 'chunked more than once')
        if len(codings) > 1:  # RFC 9112 §6.1: one 3i does not implement
            raise HTTPError(501, 'Transfer coding {0}'.format(codings[0]))
        return True

    def read_chunked(self):
        """A chunked body (RFC 9112 §7.1), decoded into a file that stays in
        memory up to SPOOL_BYTES and goes to disk past that: (its length,
        wsgi.input over it)."""
        body = tempfile.SpooledTemporaryFile(SPOOL_BYTES)
        length = 0
        while True:
            size = self.read_chunk_size()
            if size == 0:  # the last chunk
                break
            length += size
            if length > MAX_BODY_BYTES:
                raise HTTPError(413)
            while size:  # chunk-data, in pieces
                data = self.read_exactly(min(size, 65536))
                body.write(data)
                size -= len(data)
            if self.read_exactly(2) != b'\r\n':  # RFC 9112 §7.1
                raise HTTPError(400, 'Chunk data not followed by CRLF')
        self.read_fields(trailers=True)  # the trailer section, dropped
        body.seek(0)
        return length, InputWrapper(body, length)

    def read_chunk_size(self):
        """chunk-size [ chunk-ext ] CRLF -> the size."""
        line = self.readline(MAX_CHUNK_LINE + 1)
        if len(line) > MAX_CHUNK_LINE:
            raise HTTPError(400, 'Chunk line too long')
        if not line.endswith(b'\n'):
            raise body_cut_short('before the last chunk')
        match = CHUNK_LINE.match(line.decode('latin-1'))
        if not match:
            raise HTTPError(400, 'Malformed chunk size or extension')
        return int(match.group(1), 16)

    def read_exactly(self, size):
        data = self.rfile.read(size)
        if len(data) < size:
            raise body_cut_short('before the last chunk')
        return data

    def readline(self, limit):
        return self.rfile.readline(limit)

    def header(self, name):
        """The value of the field called name (lower-case), or None."""
        for field, value in self.headers:
            if field == name:
                return value

    def cgi_fields(self):
        """The header fields as CGI variables, for the environ."""
        env = {}
        for name, value in self.headers:
            key = name.upper().replace('-', '_')
            if key == 'CONTENT_TYPE':
                env[key] = value
            elif key not in ('CONTENT_LENGTH', 'TRANSFER_ENCODING'):
                key = 'HTTP_' + key
                env[key] = env[key] + ',' + value if key in env else value
        if self.length is not None:  # a chunked body's, once decoded
            env['CONTENT_LENGTH'] = str(self.length)
        if self.authority:  # absolute-form: the Host (RFC 9112 §3.2.2)
            env['HTTP_HOST'] = self.authority
        return env


def line_text(line):
    """A line without its CRLF (or bare LF, RFC 9112 §2.2), as latin-1."""
    if not line.endswith(b'\n'):  # EOF before the end of the line
        raise HTTPError(400, 'Incomplete request')
    return line[:-2 if line.endswith(b'\r\n') else -1].decode('latin-1')


class SocketReader(io.RawIOBase):
    """The client's bytes, for a BufferedReader. Each wait for them lasts at
    most REQUEST_TIMEOUT; while `deadline` is set, all of them end by then."""

    def __init__(self, sock):
        self.sock, self.deadline = sock, None

    def readable(self):
        return True

    def readinto(self, buffer):
        timeout = REQUEST_TIMEOUT
        if self.deadline is not None:  # the request head
            timeout = self.deadline - time.monotonic()
        try:
            if timeout <= 0:
                raise socket.timeout
            self.sock.settimeout(timeout)
            return self.sock.recv_into(buffer)
        except socket.timeout:
            raise ClientStalled(
                'no body bytes for {0:g} s'.format(REQUEST_TIMEOUT)
                if self.deadline is None else
                'no complete request head in {0:g} s'.format(REQUEST_TIMEOUT))
        except OSError as e:
            raise ClientGone(e)


class InputWrapper(object):
    """wsgi.input: exactly the request body, read as the app asks, from the
    socket (a sized body) or from the file of a decoded chunked one."""

    def __init__(self, rfile, length, on_first_read=None):
        self.rfile, self.left = rfile, length
        self.on_first_read = on_first_read

    def _limit(self, size):
        if self.on_first_read:  # e.g. send '100 Continue' (curl waits for it)
            self.on_first_read, callback = None, self.on_first_read
            callback()
        if size is None or size < 0 or size > self.left:
            return self.left
        return size

    def _read(self, method, size):
        data = method(size)
        self.left -= len(data)
        if len(data) < size and not (method == self.rfile.readline and
                                     data.endswith(b'\n')):
            raise body_cut_short('{0} bytes before its end'.format(self.left))
        return data

    def read(self, size=-1):
        size = self._limit(size)
        return self._read(self.rfile.read, size) if size else b''

    def readline(self, size=-1):
        size = self._limit(size)
        return self._read(self.rfile.readline, size) if size else b''

    def readlines(self, hint=-1):
        lines, total = [], 0
        for line in self:
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        return iter(self.readline, b'')


# When a request is not answered as asked: its errors -------------------------

class HTTPError(Exception):
    """A request we answer with an error status instead of calling the app."""

    def __init__(self, status, detail=''):
        super().__init__(status, detail)
        self.status, self.detail = http.HTTPStatus(status), detail


class ClientLost(BaseException):
    """The connection is lost to this request: the client went away or
    stalled. A BaseException: an app's `except Exception` lets it pass."""


class ClientGone(ClientLost):
    """The client reset or closed the connection: nobody to answer."""


class ClientStalled(ClientLost):
    """The client sent or took nothing for REQUEST_TIMEOUT seconds."""


def body_cut_short(where):
    """The client's EOF before its body ended (RFC 9112 §8), in a sized body,
    a chunk or the trailer section: ClientGone, with no answer."""
    return ClientGone('EOF ' + where)


# Writing: every answer's head, its framing, an error's body ------------------

def check_response(status, headers):
    """An app's status and fields, as start_response() gets them."""
    if not STATUS.match(status):
        raise AssertionError('Bad status {0!r}'.format(status))
    for name, value in headers:
        if not TOKEN.match(name) or LINE_BREAK.search(value):
            raise AssertionError(
                'Bad header {0!r}: {1!r}'.format(name, value))


def framing(method, version, status, headers):
    """How an answer's body goes out (RFC 9112 §6.3): (has_body, chunked).
    None after a HEAD, nor with a status that has none (1xx, 204, 304: RFC
    9110 §6.4.1). Without Content-Length, chunked (RFC 9112 §7.1) to an
    HTTP/1.1 client; to HTTP/1.0, which has no chunks, ended by the FIN."""
    code = int(status[:3])
    has_body = method != 'HEAD' and code >= 200 and code not in (204, 304)
    sized = any(name.lower() == 'content-length' for name, value in headers)
    return has_body, has_body and not sized and version == 'HTTP/1.1'


def response_head(status, headers):
    """Every answer's head, the app's and 3i's own alike (RFC 9112 §4, §5):
    the status line, the fields, and the server's: Connection: close (one
    request per connection), Date (RFC 9110 §6.6.1) and Server (§10.2.4)
    unless the app sent its own."""
    names = {name.lower() for name, value in headers}
    headers = list(headers) + [('Connection', 'close')]
    if 'date' not in names:
        headers.append(('Date', format_date_time(time.time())))
    if 'server' not in names:
        headers.append(('Server', SERVER_SOFTWARE))
    lines = ['HTTP/1.1 ' + status]
    lines += ['{0}: {1}'.format(name, value) for name, value in headers]
    return ('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1')


def error_response(status, detail='', headers=()):
    """(status line, head, body) of an error answer: the status in words."""
    line = '{0} {1}'.format(status.value, status.phrase)
    body = (line + '\n' + (detail and detail + '\n')).encode()
    head = response_head(line, [
        ('Content-Type', 'text/plain; charset=utf-8'),
        ('Content-Length', str(len(body)))] + list(headers))
    return line, head, body


def end(sock):
    """FIN: the answer is whole (a body without Content-Length ends here for
    an HTTP/1.0 client)."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError as e:
        raise ClientGone(e)


def linger(sock):
    """Drain the client's unread input, for LINGER_SECONDS at most, so that
    closing sends no reset that could destroy the answer unread."""
    deadline = time.monotonic() + LINGER_SECONDS
    try:
        while time.monotonic() < deadline:
            sock.settimeout(deadline - time.monotonic())
            if not sock.recv(65536):
                break
    except (OSError, ValueError):
        pass


def abort(sock):
    """Cut the answer short so that the client can tell: closing now sends
    a reset, never a FIN that would pass for the end of the body."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack('ii', 1, 0))


# The grammar: what a request may be, and an answer ---------------------------

# The request grammar: RFC 9112 (syntax) and RFC 9110 (semantics), each
# pattern under the ABNF it implements. Compiled once, in the parent.
#
#   token = 1*tchar                                       (RFC 9110 §5.6.2)
#   tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
#           "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
TCHARS = "-!#$%&'*+.^_`|~0-9A-Za-z"
TOKEN = re.compile('[' + TCHARS + r']+\Z')  # a field name (RFC 9110 §5.1)
#   method = token                                          (RFC 9110 §9.1)
# of 3 to 20 characters, upper-case
METHOD = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Z]{3,20}\Z")
#   HTTP-version = HTTP-name "/" DIGIT "." DIGIT            (RFC 9112 §2.3)
HTTP_VERSION = re.compile(r'HTTP/[0-9]\.[0-9]\Z')
SERVED_VERSIONS = ('HTTP/1.0', 'HTTP/1.1')  # others: 505 (RFC 9110 §15.6.6)
#   request-target = origin-form / absolute-form            (RFC 9112 §3.2)
#                  / authority-form / asterisk-form
# is visible ASCII (no control character, no raw non-ASCII byte, RFC 3986
# §2) and has no fragment: VCHAR but "#", from "!" to "~"
TARGET = re.compile(r'[!"$-~]+\Z')
#   absolute-URI = scheme ":" hier-part [ "?" query ]        (RFC 3986 §4.3)
#   scheme       = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
# hier-part with an authority: "//" (then path-abempty)
ABSOLUTE_FORM = re.compile(r'[A-Za-z][-A-Za-z0-9+.]*://')
#   field-line  = field-name ":" OWS field-value OWS        (RFC 9112 §5)
#   OWS         = *( SP / HTAB )                          (RFC 9110 §5.6.3)
OWS = ' \t'
#   field-value = *field-content                            (RFC 9110 §5.5)
#   field-content = field-vchar [ 1*( SP / HTAB / field-vchar ) field-vchar ]
#   field-vchar = VCHAR / obs-text
#   obs-text    = %x80-FF
# (OWS is stripped first): HTAB, SP to "~", obs-text; no NUL, CR, LF, DEL
FIELD_VALUE = re.compile(r'[\t -~\x80-\xff]*\Z')
#   Content-Length = 1*DIGIT                                (RFC 9110 §8.6)
DIGITS = re.compile(r'[0-9]+\Z')
#   Host     = uri-host [ ":" port ]                        (RFC 9110 §7.2)
#   uri-host = IP-literal / IPv4address / reg-name          (RFC 3986 §3.2.2)
#   reg-name = *( unreserved / pct-encoded / sub-delims )
# unreserved, sub-delims, "%" of pct-encoded, ":" of a port, "[]" of an
# IP-literal
HOST_FIELD = re.compile(r"[-A-Za-z0-9._~!$&'()*+,;=%:\[\]]*\Z")
SINGLE_FIELDS = ('host', 'content-length', 'content-type')  # one at most
#   Transfer-Encoding = #transfer-coding                    (RFC 9112 §6.1)
#   transfer-coding   = token *( OWS ";" OWS transfer-parameter )
# of which 3i implements "chunked" alone, and takes it without parameters
#   chunked-body   = *chunk last-chunk trailer-section CRLF (RFC 9112 §7.1)
#   chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
#   chunk-size     = 1*HEXDIG
#   last-chunk     = 1*("0") [ chunk-ext ] CRLF
#   chunk-ext      = *( BWS ";" BWS chunk-ext-name          (RFC 9112 §7.1.1)
#                       [ BWS "=" BWS chunk-ext-val ] )
#   chunk-ext-name = token
#   chunk-ext-val  = token / quoted-string
#   BWS            = OWS
#   quoted-string  = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4)
#   qdtext         = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
#   quoted-pair    = "\" ( HTAB / SP / VCHAR / obs-text )
#   trailer-section = *( field-line CRLF )                (RFC 9112 §7.1.2)
# A chunk's lines end in CRLF exactly, and its size has 16 hex digits at
# most; extensions are checked, then ignored; trailer fields are read as
# header fields are, then dropped.
QUOTED_STRING = r'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
CHUNK_EXT = (r'[ \t]*;[ \t]*[' + TCHARS + r']+'
             r'(?:[ \t]*=[ \t]*(?:[' + TCHARS + ']+|' + QUOTED_STRING + '))?')
CHUNK_LINE = re.compile(r'([0-9A-Fa-f]{1,16})(?:' + CHUNK_EXT + r')*\r\n\Z')
# RFC 9110 §6.5.1: a trailer field must not be one needed before the body
# (its framing, routing, authentication, request modifiers); these get a 400
FORBIDDEN_TRAILERS = {'content-length', 'transfer-encoding', 'trailer',
                      'host', 'authorization', 'te'}

# Response checks: what an app may send back (PEP 3333, RFC 9112 §4)
#   status-line = HTTP-version SP status-code SP [ reason-phrase ]
STATUS = re.compile(r'[1-5][0-9][0-9] [^\r\n]*\Z')
LINE_BREAK = re.compile(r'[\r\n]')  # none in a field value
SERVER_SOFTWARE = 'WSGIServer 0.3'
# The access log shows client bytes as \xNN
LOG_ESCAPES = {c: '\\x{0:02x}'.format(c)
               for c in list(range(0x20)) + list(range(0x7f, 0x100))}


# Limits: what one request may take, and the parent's waits -------------------

MAX_EMPTY_LINES = 16             # before the request line (RFC 9112 §2.2)
MAX_REQUEST_LINE = 8192          # bytes, else 414 (RFC 9112 §3)
MAX_HEADER_BYTES = 64 * 1024     # the whole header section, else 431
MAX_HEADERS = 100                # field lines, else 431 (RFC 6585 §5)
MAX_CHUNK_LINE = 4096            # a chunk's size and extensions, else 400
SPOOL_BYTES = 1024 ** 2          # a chunked body past this waits on disk
LINGER_SECONDS = 2               # how long an error answer drains the input
BACKOFF_SECONDS = 0.1            # the parent's pause, out of processes or fds
# accept() errors the parent waits out: out of descriptors or memory, or a
# connection that died while it waited in the queue
ACCEPT_LATER = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM,
                errno.ECONNABORTED, errno.EPROTO}


# Loading the app, and the command line ---------------------------------------

def parse_arguments():
    """The command line: module:callable; -h or --help prints the usage."""
    parser = ArgumentParser(
        prog='webserver3i.py', epilog=SETTINGS,
        description='Serve a WSGI application, one child process per '
                    'connection.',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        'app', metavar='module:callable',
        help='the application: a callable in a module imported from the '
             'current directory, dotted names allowed (from the repo\'s '
             'root: tests.apps.flaskapp:app)')
    return parser.parse_args().app


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # one clear line, as for every bad argument
        sys.exit(USAGE)


# The one line for a missing or malformed argument
USAGE = 'Name the WSGI app to serve: module:callable, as hello:app'
SETTINGS = """settings, from the environment:
  HOST             the address to listen on (default 127.0.0.1: this
                   machine only; 0.0.0.0: every interface)
  PORT             the port to listen on (default 8888; 0 picks a free one)
  REQUEST_TIMEOUT  seconds a child waits for a client that sends or takes
                   nothing (default 30)
  MAX_BODY_BYTES   the largest request body, sized or chunked (default
                   10485760, 10 MiB); a larger one gets a 413"""


def load_application(app_path):
    """'package.module:callable' -> the callable, imported from the
    current directory."""
    module_name, _, name = app_path.partition(':')
    if not module_name or not name:
        sys.exit(USAGE)
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        sys.exit('Cannot import {0!r}: {1}'.format(module_name, e))
    application = module
    for attribute in name.split('.'):
        application = getattr(application, attribute, None)
    if not callable(application):
        sys.exit('No callable {0!r} in module {1!r}'.format(
            name, module_name))
    return application


def warm_up(server, requests=20):
    """Serve a few requests in the parent before the first fork(), so that
    the children share the code CPython 3.11+ specialized as it ran it. A
    built-in app, over socketpairs, on copies of the server: the server, its
    app, output and signals stay as they were."""
    handlers = {signum: signal.getsignal(signum) for signum in (
        signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    stdout, sys.stdout = sys.stdout, io.StringIO()  # no access lines
    try:
        for _ in range(requests):
            scratch = copy.copy(server)
            scratch.application = lambda environ, start_response: (
                start_response('200 OK', []) and [b'warm'])
            client, ours = socket.socketpair()
            with client, ours:
                client.sendall(b'GET /?q=1 HTTP/1.1\r\nHost: warm-up\r\n\r\n')
                scratch.handle_one_request(ours, ('127.0.0.1', 0))
    finally:
        sys.stdout = stdout
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


if __name__ == '__main__':
    application = load_application(parse_arguments())
    server = make_server(SERVER_ADDRESS, application)
    sys.stdout.write('WSGIServer: Serving HTTP on port {0} ...\n\n'.format(
        server.server_port))
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # as Ctrl-C
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # children finish their answers on their own
        server.listen_socket.close()
        print('WSGIServer: stopped')
