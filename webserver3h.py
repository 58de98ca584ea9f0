###########################################################################
# Forking WSGI server - webserver3h.py                                    #
#                                                                         #
# Tested with Python 2.7 & Python 3.6-3.13 on Linux                       #
#                                                                         #
# The article's exercise, answered here: Part 2's WSGIServer, its methods #
# in Part 2's order, serving each connection in a child of its own with   #
# webserver3g.py's lines (fork(), both close()s, the reaper, accept()     #
# restarted on EINTR). Part 2's flaws stay: webserver3i.py fixes them.    #
# Usage, from tests/apps:                                                 #
#   python ../../webserver3h.py hello:app                                 #
###########################################################################
import errno
import importlib
import io
import os
import signal
import socket
import sys

try:  # HOST and PORT come from the environment; PORT=0 picks a free port
    SERVER_ADDRESS = (HOST, PORT) = (
        os.environ.get('HOST', ''), int(os.environ.get('PORT', '8888')))
except ValueError as e:
    raise SystemExit('PORT must be a number: %s' % e)
REQUEST_QUEUE_SIZE = 1024


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


class WSGIServer(object):

    def __init__(self, server_address):
        # 3g's listening socket, on server_address
        listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listen_socket.bind(server_address)
        except (socket.error, OverflowError) as e:
            raise SystemExit(
                'Cannot listen on {0}: {1}'.format(server_address, e))
        listen_socket.listen(REQUEST_QUEUE_SIZE)
        self.listen_socket = listen_socket
        # SERVER_NAME and SERVER_PORT, the same in every request's environ
        self.server_name = socket.getfqdn(server_address[0])
        _, self.server_port = listen_socket.getsockname()

    def set_app(self, application):
        self.application = application

    def serve_forever(self):
        listen_socket = self.listen_socket
        while True:
            try:
                self.client_connection, client_address = listen_socket.accept()
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
                self.handle_one_request()  # it closes the client's socket
                os._exit(0)  # child exits here
            else:  # parent
                self.client_connection.close()  # close parent copy and loop over

    def handle_one_request(self):
        # In the child: what one recv(1024) returns is the whole request
        self.request_data = self.client_connection.recv(1024)
        text = native(self.request_data)
        show('<', text)
        self.parse_request(text)
        environ = self.get_environ()
        # The app gives start_response() the head, and returns the body
        body = self.application(environ, self.start_response)
        self.finish_response(body)

    def parse_request(self, text):
        # The request line's three words; a line cut short raises ValueError
        method, target, version = text.split('\n', 1)[0].split()
        self.request_method, self.request_version = method, version
        self.path, _, self.query_string = target.partition('?')

    def get_environ(self):
        # PEP 3333's keys: WSGI's own, then the request line's; no HTTP_*
        return {
            'wsgi.version': (1, 0),
            'wsgi.url_scheme': 'http',
            'wsgi.input': io.BytesIO(self.request_data),  # the head too
            'wsgi.errors': sys.stderr,
            'wsgi.multithread': False,
            'wsgi.multiprocess': True,  # a process per request
            'wsgi.run_once': False,
            'REQUEST_METHOD': self.request_method,  # GET
            'PATH_INFO': self.path,                  # /hello
            'QUERY_STRING': self.query_string,       # name=world
            'SERVER_NAME': self.server_name,         # localhost
            'SERVER_PORT': str(self.server_port),    # 8888
        }

    def start_response(self, status, response_headers, exc_info=None):
        # The head, kept for finish_response(); no write() is returned
        self.status = status
        self.response_headers = list(response_headers) + [
            ('Date', 'Mon, 16 Nov 2015 08:00:00 GMT'),  # always this date
            ('Server', 'WSGIServer 0.3'),
        ]

    def finish_response(self, body):
        # Status line, fields, blank line and body: the FIN ends the body
        head = ['HTTP/1.1 ' + self.status] + [
            '{0}: {1}'.format(name, value)
            for name, value in self.response_headers]
        response = ('\r\n'.join(head) + '\r\n\r\n').encode('iso-8859-1')
        response += b''.join(body)
        show('>', native(response))
        connection = self.client_connection
        connection.sendall(response)
        connection.close()


def make_server(server_address, application):
    signal.signal(signal.SIGCHLD, grim_reaper)
    server = WSGIServer(server_address)
    server.set_app(application)
    return server


def native(data):
    """Bytes as this Python's str (PEP 3333's native string): as they are on
    Python 2.7, decoded as latin-1 on Python 3."""
    return data if str is bytes else data.decode('iso-8859-1')


def show(mark, text):
    """Print text in one write, each line after mark, as curl -v does."""
    sys.stdout.write(
        ''.join(mark + ' ' + line + '\n' for line in text.splitlines()) + '\n')


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('Name the WSGI app to serve: module:callable, as hello:app')
    sys.path.insert(0, os.getcwd())  # the app's module, from this folder
    try:
        module_name, name = sys.argv[1].split(':')
        application = getattr(importlib.import_module(module_name), name)
    except (ValueError, ImportError, AttributeError) as e:
        sys.exit('Cannot load {0}: {1}'.format(sys.argv[1], e))
    server = make_server(SERVER_ADDRESS, application)
    print('WSGIServer: Serving HTTP on port {port} ...\n'.format(
        port=server.server_port))
    server.serve_forever()
