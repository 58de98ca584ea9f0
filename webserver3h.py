###########################################################################
# Concurrent WSGI server - webserver3h.py                                 #
#                                                                         #
# Tested with Python 3.6-3.13 on Linux                                    #
#                                                                         #
# - The WSGI server of Part 2, made concurrent the way webserver3g.py is: #
#   fork() per connection, SIGCHLD + waitpid(-1, WNOHANG), and accept()   #
#   restarted on EINTR                                                    #
# - Beyond 3g: a failing fork() or accept() never kills the parent, and   #
#   requests are parsed and timed as RFC 9112 and RFC 9110 say            #
# - Usage: python webserver3h.py module:callable   (e.g. flaskapp:app)    #
###########################################################################
import email.utils
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
import sys
import time
import traceback
import urllib.parse

try:  # HOST and PORT come from the environment; PORT=0 picks a free port
    SERVER_ADDRESS = (HOST, PORT) = (
        os.environ.get('HOST', '127.0.0.1'), int(os.environ.get('PORT', '8888')))
except ValueError:
    raise SystemExit('PORT must be a port number, not %r'
                     % os.environ['PORT'])
REQUEST_QUEUE_SIZE = 1024
try:  # a client that sends nothing, or takes or sends nothing, this long is dropped
    REQUEST_TIMEOUT = float(os.environ.get('REQUEST_TIMEOUT', '30'))
    if not (math.isfinite(REQUEST_TIMEOUT) and REQUEST_TIMEOUT > 0):
        raise ValueError
except ValueError:
    raise SystemExit('REQUEST_TIMEOUT must be a number of seconds above 0, not %r'
                     % os.environ['REQUEST_TIMEOUT'])
BACKOFF_SECONDS = 0.1  # the parent's pause when out of processes or descriptors
# accept() errors the parent waits out: out of descriptors or memory, or a
# connection that died while it waited in the queue
ACCEPT_LATER = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM,
                errno.ECONNABORTED, errno.EPROTO}
SERVICE_UNAVAILABLE = (b'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n'
                       b'Content-Length: 24\r\nRetry-After: 1\r\nConnection: close\r\n'
                       b'\r\n503 Service Unavailable\n')

# The HTTP rules, in one place: RFC 9112 (the message syntax) and RFC 9110
# (semantics). Compiled once, in the parent: every child would compile them again.
MAX_EMPTY_LINES = 16             # before the request line (RFC 9112 §2.2)
MAX_REQUEST_LINE = 8192          # bytes, else 414 (RFC 9112 §3)
MAX_HEADER_BYTES = 64 * 1024     # the whole header block, else 431 (RFC 6585 §5)
MAX_HEADERS = 100                # header lines, else 431
MAX_BODY_BYTES = 10 * 1024 ** 2  # else 413; the body is streamed, never held
LINGER_SECONDS = 2               # how long an error answer drains the input
# A field name is a token (RFC 9110 §5.6.2, §5.1); so is a method (§9.1), and
# as gunicorn does, an upper-case one of 3 to 20 characters
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
METHOD = re.compile(r"[!$%&'*+.^_`|~0-9A-Z-]{3,20}\Z")
# Only HTTP/1.0 and 1.1 are served; another version gets 505 (RFC 9110 §15.6.6)
VERSION = re.compile(r'HTTP/[0-9]\.[0-9]\Z')
# A target is visible ASCII: no control character, no raw non-ASCII byte
# (RFC 9112 §3.2, RFC 3986 §2), and no fragment (RFC 9112 §3.2)
TARGET = re.compile(r'[\x21-\x22\x24-\x7e]+\Z')
ABSOLUTE_FORM = re.compile(r'[A-Za-z][A-Za-z0-9+.-]*://')  # RFC 9112 §3.2.2
# A field value holds no control character but HTAB: NUL, CR, LF, ESC, DEL
# are refused (RFC 9110 §5.5)
FIELD_VALUE = re.compile(r'[\t\x20-\x7e\x80-\xff]*\Z')
OWS = ' \t'                                    # optional whitespace (RFC 9110 §5.6.3)
DIGITS = re.compile(r'[0-9]+\Z')               # Content-Length (RFC 9110 §8.6)
HOST_VALUE = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=%:\[\]-]*\Z")  # RFC 9110 §7.2
SINGLE_FIELDS = ('host', 'content-length', 'content-type')  # at most one of each
STATUS = re.compile(r'[1-5][0-9][0-9] [^\r\n]*\Z')
CRLF = re.compile(r'[\r\n]')
# The access log shows client bytes as \xNN, the way wsgiref does
LOG_ESCAPES = {c: '\\x%02x' % c for c in list(range(0x20)) + list(range(0x7f, 0x100))}


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


class ClientError(BaseException):
    """The client went away or stalled mid-request. Not an Exception (like
    KeyboardInterrupt), so that an app's `except Exception` lets it pass
    instead of answering 500 with a traceback: it is not the app's fault."""


class ClientGone(ClientError):
    """The client reset or closed the connection: nobody to answer."""


class ClientStalled(ClientError):
    """The client sent or took nothing for REQUEST_TIMEOUT seconds."""


class HTTPError(Exception):
    """A request we answer with an error status instead of calling the app."""

    def __init__(self, status, detail=''):
        super().__init__(status, detail)
        self.status, self.detail = http.HTTPStatus(status), detail


class SocketReader(io.RawIOBase):
    """The client's bytes, for a BufferedReader. Each wait for them lasts at
    most REQUEST_TIMEOUT; while `deadline` is set, all of them end by then."""

    def __init__(self, sock):
        self.sock, self.deadline = sock, None

    def readable(self):
        return True

    def readinto(self, buffer):
        timeout = REQUEST_TIMEOUT
        if self.deadline is not None:
            timeout = self.deadline - time.monotonic()
            if timeout <= 0:
                raise socket.timeout('timed out')
        self.sock.settimeout(timeout)
        return self.sock.recv_into(buffer)


class InputWrapper(object):
    """wsgi.input: exactly the request body, read from the socket on demand."""

    def __init__(self, rfile, length, on_first_read=None):
        self.rfile, self.left, self.on_first_read = rfile, length, on_first_read

    def _limit(self, size):
        if self.on_first_read:  # e.g. send '100 Continue' (curl waits for it)
            self.on_first_read, callback = None, self.on_first_read
            callback()
        if size is None or size < 0 or size > self.left:
            return self.left
        return size

    def _read(self, method, size):
        try:
            data = method(size)
        except socket.timeout:
            raise ClientStalled('no body bytes for {0:g} s'.format(REQUEST_TIMEOUT))
        except OSError as e:
            raise ClientGone(e)
        self.left -= len(data)
        if len(data) < size and not (method == self.rfile.readline and
                                     data.endswith(b'\n')):
            raise ClientGone('the body ended {0} bytes early'.format(self.left))
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


class WSGIServer(object):

    address_family = socket.AF_INET
    socket_type = socket.SOCK_STREAM
    request_queue_size = REQUEST_QUEUE_SIZE

    def __init__(self, server_address):
        # Create a listening socket
        self.listen_socket = listen_socket = socket.socket(
            self.address_family,
            self.socket_type
        )
        # Allow to reuse the same address
        listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Bind
        try:
            listen_socket.bind(server_address)
        except (socket.error, OverflowError) as e:
            listen_socket.close()
            raise SystemExit(
                'Cannot listen on {0}: {1}'.format(server_address, e))
        # Activate
        listen_socket.listen(self.request_queue_size)
        # Get server host name and port
        host, port = self.listen_socket.getsockname()[:2]
        self.server_name = server_address[0] or socket.gethostname()
        self.server_port = port

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

    def back_off(self, error):
        """The parent is out of something: say so, and give it time to return."""
        print('WSGIServer: {0}; retrying in {1:g} s'.format(
            error.strerror, BACKOFF_SECONDS))
        time.sleep(BACKOFF_SECONDS)

    def refuse(self, client_connection):
        """No child to serve this connection: a best-effort 503, then close."""
        try:
            client_connection.setblocking(False)
            client_connection.send(SERVICE_UNAVAILABLE)
            client_connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        client_connection.close()

    def handle_one_request(self, client_connection, client_address):
        """Runs in the child: read one request, call the app, answer, log."""
        # The app may run subprocesses: let it wait for its own children.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        # Ctrl-C signals the whole process group, children too: finish the
        # response first, within REQUEST_TIMEOUT.
        signal.signal(signal.SIGINT, self.finish_soon)
        signal.signal(signal.SIGTERM, self.finish_soon)
        signal.signal(signal.SIGALRM, self.give_up)
        self.client_connection, self.client_address = client_connection, client_address
        self.status, self.headers_sent, self.bytes_sent, self.note = None, False, 0, ''
        self.complete = False  # the whole response has been sent
        self.request_line, self.method, self.body = '-', None, None
        self.reader = SocketReader(client_connection)
        self.rfile = io.BufferedReader(self.reader)
        try:
            if self.parse_request():
                env = self.get_environ()
                # It's time to call our application callable and get
                # back a result that will become HTTP response body
                result = self.application(env, self.start_response)
                # Construct a response and send it back to the client
                self.finish_response(result)
        except HTTPError as e:
            self.send_error(e.status, e.detail)
        except ClientStalled as e:
            self.note = 'client stalled: {0}'.format(e)
            if self.headers_sent:
                self.abort()
            else:
                self.send_error(http.HTTPStatus.REQUEST_TIMEOUT, str(e))
        except ClientGone as e:
            self.note = 'client gone: {0}'.format(e)
        except BaseException:  # the app failed: 500, and the traceback on stderr
            traceback.print_exc()
            if self.headers_sent:
                self.abort()
            else:
                self.send_error(http.HTTPStatus.INTERNAL_SERVER_ERROR)
        finally:
            self.log_request()
            sys.stdout.flush()
            sys.stderr.flush()

    def finish_soon(self, signum, frame):
        """Ctrl-C or SIGTERM in a child: REQUEST_TIMEOUT more seconds at most."""
        if not signal.getitimer(signal.ITIMER_REAL)[0]:
            signal.setitimer(signal.ITIMER_REAL, REQUEST_TIMEOUT)

    def give_up(self, signum, frame):
        """The server stopped and this request did not finish in time."""
        if not self.complete:  # (else it was only draining the input)
            self.abort()
            self.note = 'cut short: the server stopped'
        self.log_request()
        sys.stdout.flush()
        os._exit(1)

    def abort(self):
        """Cut the response short so that the client can tell: closing now
        sends a reset, never a FIN that would pass for the end of the body."""
        self.client_connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))

    def readline(self, limit):
        try:
            return self.rfile.readline(limit)
        except socket.timeout:
            raise HTTPError(408)
        except OSError as e:
            raise ClientGone(e)

    def send(self, data):
        """Send all of data. Time out only when the client takes none of it for
        REQUEST_TIMEOUT: a slow reader that keeps reading gets everything."""
        view = memoryview(data)
        try:
            self.client_connection.settimeout(REQUEST_TIMEOUT)
            while view:
                view = view[self.client_connection.send(view):]
        except socket.timeout:
            raise ClientStalled('took nothing for {0:g} s'.format(REQUEST_TIMEOUT))
        except OSError as e:
            raise ClientGone(e)

    def parse_request(self):
        """Read the request line and headers; False if the client sent nothing."""
        # The whole request head must arrive within REQUEST_TIMEOUT.
        self.reader.deadline = time.monotonic() + REQUEST_TIMEOUT
        for _ in range(MAX_EMPTY_LINES):  # RFC 9112 §2.2: ignore empty lines first
            line = self.readline(MAX_REQUEST_LINE + 1)
            if line not in (b'\r\n', b'\n'):
                break
        if not line:
            return False
        if len(line) > MAX_REQUEST_LINE:
            raise HTTPError(414)
        self.request_line = self.line_text(line)
        words = self.request_line.split(' ')  # RFC 9112 §3: single SPs only
        if len(words) != 3 or not METHOD.match(words[0]):
            raise HTTPError(400, 'Malformed request line')
        (self.method,           # GET
         target,                # /hello?name=world
         self.request_version   # HTTP/1.1
         ) = words
        if not VERSION.match(self.request_version):
            raise HTTPError(400, 'Malformed request line')
        if self.request_version not in ('HTTP/1.0', 'HTTP/1.1'):
            raise HTTPError(505)
        self.path, self.query, self.authority = self.parse_target(target)
        self.headers = self.read_headers()
        length = self.content_length()
        self.body = InputWrapper(self.rfile, length, self.send_continue
                                 if length and self.expects_continue() else None)
        self.reader.deadline = None  # the body: REQUEST_TIMEOUT for each wait
        return True

    def line_text(self, line):
        """A line without its CRLF (or bare LF, RFC 9112 §2.2), as latin-1."""
        if not line.endswith(b'\n'):  # EOF before the end of the line
            raise HTTPError(400, 'Incomplete request')
        return line[:-2 if line.endswith(b'\r\n') else -1].decode('latin-1')

    def parse_target(self, target):
        """The request target (RFC 9112 §3.2) -> (path, query, authority)."""
        if not TARGET.match(target):
            raise HTTPError(400, 'Bad request target')
        if self.method == 'CONNECT':  # authority-form: this is no proxy
            raise HTTPError(501, 'CONNECT is not supported')
        if target.startswith('/'):  # origin-form
            path, _, query = target.partition('?')
            return path, query, None
        if target == '*' and self.method == 'OPTIONS':  # asterisk-form
            return '', '', None  # PATH_INFO '' (PEP 3333 allows no '*')
        if ABSOLUTE_FORM.match(target):  # absolute-form: http://host/path
            try:
                url = urllib.parse.urlsplit(target)
                if url.scheme.lower() in ('http', 'https') and url.hostname:
                    return url.path or '/', url.query, url.netloc
            except ValueError:  # e.g. a bad IPv6 address or port
                pass
        raise HTTPError(400, 'Bad request target')

    def read_headers(self):
        """The header fields up to the blank line, as (name, value) pairs."""
        headers, size = [], 0
        while True:
            line = self.readline(MAX_HEADER_BYTES + 1 - size)
            size += len(line)
            if size > MAX_HEADER_BYTES or len(headers) > MAX_HEADERS:
                raise HTTPError(431)
            if line in (b'\r\n', b'\n'):
                break
            # No space before the colon, no obs-fold (RFC 9112 §5.1, §5.2)
            name, colon, value = self.line_text(line).partition(':')
            value = value.strip(OWS)
            if not colon or not TOKEN.match(name):
                raise HTTPError(400, 'Malformed header')
            if not FIELD_VALUE.match(value):
                raise HTTPError(400, 'Control character in header {0}'.format(name))
            # A name with '_' would pose as its '-' twin in the environ
            # (X_Auth as HTTP_X_AUTH): drop it, as gunicorn and Django do.
            if '_' not in name:
                headers.append((name, value))
        fields = [name.lower() for name, value in headers]
        for name in SINGLE_FIELDS:  # RFC 9112 §3.2, RFC 9110 §8.3, §8.6
            if fields.count(name) > 1:
                raise HTTPError(400, 'More than one {0}'.format(name))
        hosts = [value for name, value in headers if name.lower() == 'host']
        if self.request_version == 'HTTP/1.1' and not hosts:  # RFC 9112 §3.2
            raise HTTPError(400, 'No Host')
        if hosts and not HOST_VALUE.match(hosts[0]):
            raise HTTPError(400, 'Bad Host')
        return headers

    def header(self, name):
        for field, value in self.headers:
            if field.lower() == name:
                return value

    def content_length(self):
        length = self.header('content-length')
        if self.header('transfer-encoding') is not None:  # RFC 9112 §6.1, §6.3
            raise HTTPError(400 if length is not None else 411,
                            'Chunked bodies need a Content-Length')
        if length is None:
            return 0
        if not DIGITS.match(length):  # RFC 9110 §8.6: digits only
            raise HTTPError(400, 'Bad Content-Length')
        if int(length) > MAX_BODY_BYTES:
            raise HTTPError(413)
        return int(length)

    def expects_continue(self):  # RFC 9110 §10.1.1
        return (self.request_version == 'HTTP/1.1' and
                (self.header('expect') or '').lower() == '100-continue')

    def send_continue(self):
        self.send(b'HTTP/1.1 100 Continue\r\n\r\n')

    def get_environ(self):
        env = {}
        # Required WSGI variables
        env['wsgi.version']      = (1, 0)
        env['wsgi.url_scheme']   = 'http'
        env['wsgi.input']        = self.body
        env['wsgi.errors']       = sys.stderr
        env['wsgi.multithread']  = False
        env['wsgi.multiprocess'] = True   # one process per request
        env['wsgi.run_once']     = False  # the app outlives a request
        # Required CGI variables
        env['REQUEST_METHOD']    = self.method                        # GET
        env['SCRIPT_NAME']       = ''
        env['PATH_INFO']         = urllib.parse.unquote(self.path, 'latin-1')  # /hello
        env['QUERY_STRING']      = self.query                         # name=world
        env['SERVER_NAME']       = self.server_name                   # localhost
        env['SERVER_PORT']       = str(self.server_port)              # 8888
        env['SERVER_PROTOCOL']   = self.request_version               # HTTP/1.1
        env['REMOTE_ADDR']       = self.client_address[0]
        env['REMOTE_PORT']       = str(self.client_address[1])
        for name, value in self.headers:
            key = name.upper().replace('-', '_')
            if key in ('CONTENT_TYPE', 'CONTENT_LENGTH'):
                env[key] = value
            else:
                key = 'HTTP_' + key
                env[key] = env[key] + ',' + value if key in env else value
        if self.authority:  # absolute-form: its authority is the Host (RFC 9112 §3.2.2)
            env['HTTP_HOST'] = self.authority
        return env

    def finish_response(self, result):
        """Send the app's body (the headers go with its first bytes), then FIN."""
        try:
            for data in result:
                if data:  # the headers go out with the first non-empty chunk
                    self.write(data)
                    if self.method == 'HEAD':
                        break
            if not self.headers_sent:
                self.write(b'')
        finally:
            if hasattr(result, 'close'):
                result.close()
        try:
            self.client_connection.shutdown(socket.SHUT_WR)  # FIN: the response is over
        except OSError as e:
            raise ClientGone(e)
        self.complete = True
        self.linger(self.body.left > 0)  # the app left some of the body unread

    def start_response(self, status, response_headers, exc_info=None):
        if exc_info:
            try:
                if self.headers_sent:  # too late to change the status
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError('start_response() called twice without exc_info')
        if not STATUS.match(status):
            raise AssertionError('Bad status %r' % status)
        for name, value in response_headers:
            if not TOKEN.match(name) or CRLF.search(value):
                raise AssertionError('Bad header %r: %r' % (name, value))
        self.status, self.response_headers = status, list(response_headers)
        # To adhere to WSGI specification the start_response must return
        # a 'write' callable.
        return self.write

    def write(self, data):
        if self.status is None:
            raise AssertionError('write() before start_response()')
        if not self.headers_sent:
            names = {name.lower() for name, value in self.response_headers}
            # Add necessary server headers
            server_headers = [('Connection', 'close')]
            if 'date' not in names:
                server_headers.append(('Date', email.utils.formatdate(usegmt=True)))
            if 'server' not in names:
                server_headers.append(('Server', 'WSGIServer 0.3'))
            response = 'HTTP/1.1 {status}\r\n'.format(status=self.status)
            for header in self.response_headers + server_headers:
                response += '{0}: {1}\r\n'.format(*header)
            response += '\r\n'
            self.send(response.encode('latin-1'))
            self.headers_sent = True
        if data and self.method != 'HEAD':
            self.send(data)
            self.bytes_sent += len(data)

    def send_error(self, status, detail=''):
        """Answer with an error status, then let the client read it."""
        body = '{0} {1}\n{2}'.format(status.value, status.phrase, detail and detail + '\n')
        body = body.encode()
        self.status = '{0} {1}'.format(status.value, status.phrase)
        head = ('HTTP/1.1 {0}\r\nContent-Type: text/plain; charset=utf-8\r\n'
                'Content-Length: {1}\r\nConnection: close\r\nDate: {2}\r\n\r\n').format(
            self.status, len(body), email.utils.formatdate(usegmt=True))
        if self.method == 'HEAD':  # no body, not even for an error (RFC 9110 §9.3.2)
            body = b''
        try:
            self.send(head.encode() + body)
            self.client_connection.shutdown(socket.SHUT_WR)
        except (ClientError, OSError):
            self.note = self.note or 'client gone'
        else:
            self.bytes_sent, self.complete = len(body), True
            self.linger(True)

    def linger(self, unread_input):
        """Closing with unread input makes the kernel send a reset, which can
        destroy the answer before the client reads it: drain the input first."""
        if not unread_input:
            return
        deadline = time.monotonic() + LINGER_SECONDS
        try:
            while time.monotonic() < deadline:
                self.client_connection.settimeout(deadline - time.monotonic())
                if not self.client_connection.recv(65536):
                    break
        except (OSError, ValueError):
            pass

    def log_request(self):
        # A concise access line, printed by the child that served the request
        print('[pid {0}] {1} "{2}" {3} {4}{5}'.format(
            os.getpid(), self.client_address[0],
            self.request_line.translate(LOG_ESCAPES),
            self.status.split(' ')[0] if self.status else '-', self.bytes_sent,
            self.note and ' (' + self.note + ')'))


def make_server(server_address, application):
    signal.signal(signal.SIGCHLD, grim_reaper)
    server = WSGIServer(server_address)
    server.set_app(application)
    return server


def load_application(app_path):
    """'package.module:callable' -> the callable, imported from the current directory."""
    module_name, _, name = app_path.partition(':')
    if not module_name or not name:
        sys.exit('Provide a WSGI application object as module:callable')
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        sys.exit('Cannot import {0!r}: {1}'.format(module_name, e))
    application = module
    for attribute in name.split('.'):
        application = getattr(application, attribute, None)
    if not callable(application):
        sys.exit('No callable {0!r} in module {1!r}'.format(name, module_name))
    return application


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('Provide a WSGI application object as module:callable')
    application = load_application(sys.argv[1])
    httpd = make_server(SERVER_ADDRESS, application)
    print('WSGIServer: Serving HTTP on port {port} ...\n'.format(
        port=httpd.server_port), flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # as Ctrl-C
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:  # children finish their responses on their own
        httpd.listen_socket.close()
        print('WSGIServer: stopped')
