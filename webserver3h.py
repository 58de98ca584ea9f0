###########################################################################
# Concurrent WSGI server - webserver3h.py                                 #
#                                                                         #
# Tested with Python 3.6-3.13 on Linux                                    #
#                                                                         #
# - The WSGI server of Part 2, made concurrent the way webserver3g.py is: #
#   fork() per connection, SIGCHLD + waitpid(-1, WNOHANG), and accept()   #
#   restarted on EINTR                                                    #
# - Usage: python webserver3h.py module:callable   (e.g. flaskapp:app)    #
###########################################################################
import email.utils
import errno
import http
import importlib
import os
import re
import signal
import socket
import sys
import time
import traceback
import urllib.parse

try:  # HOST and PORT come from the environment; PORT=0 picks a free port
    SERVER_ADDRESS = (HOST, PORT) = (
        os.environ.get('HOST', ''), int(os.environ.get('PORT', '8888')))
except ValueError:
    raise SystemExit('PORT must be a port number, not %r' % os.environ['PORT'])
REQUEST_QUEUE_SIZE = 1024
try:  # a client that sends nothing, or stops mid-request, is dropped after this
    REQUEST_TIMEOUT = float(os.environ.get('REQUEST_TIMEOUT', '30'))
except ValueError:
    raise SystemExit('REQUEST_TIMEOUT must be a number of seconds, not %r'
                     % os.environ['REQUEST_TIMEOUT'])
MAX_REQUEST_LINE = 8192          # bytes, else 414
MAX_HEADER_BYTES = 64 * 1024     # the whole header block, else 431
MAX_BODY_BYTES = 10 * 1024 ** 2  # else 413; the body is streamed, never held
MAX_HEADERS = 100                # header lines, else 431
LINGER_SECONDS = 2               # how long an error answer drains the input
# Compiled once, in the parent: every child would compile them again.
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # a method or header name
VERSION = re.compile(r'HTTP/1\.[0-9]\Z')
DIGITS = re.compile(r'[0-9]+\Z', re.ASCII)            # '\u00b2'.isdigit() is True
STATUS = re.compile(r'[1-5][0-9][0-9] [^\r\n]*\Z')
CRLF = re.compile(r'[\r\n]')


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


class ClientGone(Exception):
    """The client reset or closed the connection: nobody to answer."""


class HTTPError(Exception):
    """A request we answer with an error status instead of calling the app."""

    def __init__(self, status, detail=''):
        super().__init__(status, detail)
        self.status, self.detail = http.HTTPStatus(status), detail


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

    def _account(self, data, wanted):
        self.left -= len(data)
        if len(data) < wanted and not data.endswith(b'\n'):
            self.left = 0  # the client stopped sending before Content-Length
        return data

    def read(self, size=-1):
        size = self._limit(size)
        return self._account(self.rfile.read(size), size) if size else b''

    def readline(self, size=-1):
        size = self._limit(size)
        return self._account(self.rfile.readline(size), size) if size else b''

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
            raise SystemExit('Cannot listen on {0}: {1}'.format(server_address, e))
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
                else:
                    raise

            pid = os.fork()
            if pid == 0:  # child
                listen_socket.close()  # close child copy
                self.handle_one_request(client_connection, client_address)
                client_connection.close()
                os._exit(0)
            else:  # parent
                client_connection.close()  # close parent copy and loop over

    def handle_one_request(self, client_connection, client_address):
        """Runs in the child: read one request, call the app, answer, log."""
        # The app may run subprocesses: let it wait for its own children.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.client_connection, self.client_address = client_connection, client_address
        self.status, self.headers_sent, self.bytes_sent, self.note = None, False, 0, ''
        self.request_line, self.method, self.body = '-', None, None
        client_connection.settimeout(REQUEST_TIMEOUT)
        self.rfile = client_connection.makefile('rb')
        try:
            if self.parse_request():
                self.run_application(self.get_environ())
        except HTTPError as e:
            self.send_error(e.status, e.detail)
        except ClientGone as e:
            self.note = 'client gone: {0}'.format(e)
        except BaseException:  # the app failed: 500, and the traceback on stderr
            traceback.print_exc()
            if not self.headers_sent:
                self.send_error(http.HTTPStatus.INTERNAL_SERVER_ERROR)
        finally:
            self.log_request()
            sys.stdout.flush()
            sys.stderr.flush()

    def readline(self, limit):
        try:
            return self.rfile.readline(limit)
        except socket.timeout:
            raise HTTPError(408)
        except OSError as e:
            raise ClientGone(e)

    def send(self, data):
        try:
            self.client_connection.sendall(data)
        except OSError as e:
            raise ClientGone(e)

    def parse_request(self):
        """Read the request line and headers; False if the client sent nothing."""
        line = self.readline(MAX_REQUEST_LINE + 1)
        if not line:
            return False
        if len(line) > MAX_REQUEST_LINE:
            raise HTTPError(414)
        self.request_line = line.decode('latin-1').rstrip('\r\n')
        words = self.request_line.split()
        if len(words) != 3 or not TOKEN.match(words[0]) or not VERSION.match(words[2]):
            raise HTTPError(400, 'Malformed request line')
        (self.method,           # GET
         self.target,           # /hello?name=world
         self.request_version   # HTTP/1.1
         ) = words

        self.headers, size = [], 0
        while True:  # the headers, up to the blank line (CRLF or bare LF)
            line = self.readline(MAX_HEADER_BYTES + 1 - size)
            size += len(line)
            if size > MAX_HEADER_BYTES or len(self.headers) > MAX_HEADERS:
                raise HTTPError(431)
            if line in (b'\r\n', b'\n'):
                break
            if not line.endswith(b'\n'):  # EOF before the blank line
                raise HTTPError(400, 'Incomplete headers')
            name, colon, value = line.decode('latin-1').partition(':')
            if not colon or not TOKEN.match(name):
                raise HTTPError(400, 'Malformed header')
            self.headers.append((name, value.strip()))

        lengths = {v for n, v in self.headers if n.lower() == 'content-length'}
        if any(n.lower() == 'transfer-encoding' for n, v in self.headers):
            raise HTTPError(400 if lengths else 411, 'Chunked bodies need a Content-Length')
        if len(lengths) > 1 or not all(DIGITS.match(v) for v in lengths):
            raise HTTPError(400, 'Bad Content-Length')
        length = int(lengths.pop()) if lengths else 0
        if length > MAX_BODY_BYTES:
            raise HTTPError(413)
        continue_ = (self.request_version == 'HTTP/1.1' and length and
                     ('expect', '100-continue') in {(n.lower(), v.lower()) for n, v in self.headers})
        self.body = InputWrapper(self.rfile, length, continue_ and self.send_continue)
        return True

    def send_continue(self):
        self.send(b'HTTP/1.1 100 Continue\r\n\r\n')

    def get_environ(self):
        path, _, query = self.target.partition('?')
        if not path.startswith('/'):  # absolute-form: http://host/path
            path = urllib.parse.urlsplit(path).path or '/'
        env = {}
        # Required WSGI variables
        env['wsgi.version']      = (1, 0)
        env['wsgi.url_scheme']   = 'http'
        env['wsgi.input']        = self.body
        env['wsgi.errors']       = sys.stderr
        env['wsgi.multithread']  = False
        env['wsgi.multiprocess'] = True   # one process per request
        env['wsgi.run_once']     = False  # the app outlives a request (in the parent)
        # Required CGI variables
        env['REQUEST_METHOD']    = self.method                        # GET
        env['SCRIPT_NAME']       = ''
        env['PATH_INFO']         = urllib.parse.unquote(path, 'latin-1')  # /hello
        env['QUERY_STRING']      = query
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
        return env

    def run_application(self, env):
        # It's time to call our application callable and get
        # back a result that will become HTTP response body
        result = self.application(env, self.start_response)
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
        self.status = '{0} {1}'.format(status.value, status.phrase)
        response = ('HTTP/1.1 {0}\r\nContent-Type: text/plain; charset=utf-8\r\n'
                    'Content-Length: {1}\r\nConnection: close\r\nDate: {2}\r\n\r\n{3}').format(
            self.status, len(body.encode()), email.utils.formatdate(usegmt=True), body)
        try:
            self.client_connection.sendall(response.encode())
            self.client_connection.shutdown(socket.SHUT_WR)
        except OSError:
            self.note = 'client gone'
        else:
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
            os.getpid(), self.client_address[0], self.request_line,
            self.status.split(' ')[0] if self.status else '-', self.bytes_sent,
            self.note and ' (' + self.note + ')'))


def make_server(server_address, application):
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
    signal.signal(signal.SIGCHLD, grim_reaper)
    httpd.serve_forever()
