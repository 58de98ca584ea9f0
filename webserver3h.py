###########################################################################
# Concurrent WSGI server - webserver3h.py                                 #
#                                                                         #
# Tested with Python 2.7 & Python 3.6-3.13 on Linux                       #
#                                                                         #
# The article's exercise: Part 2's WSGI server made concurrent with       #
# webserver3g.py's own lines (fork() per connection, accept() restarted   #
# on EINTR, SIGCHLD + waitpid(-1, WNOHANG)). Usage, from tests/apps:      #
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
            raise SystemExit(
                'Cannot listen on {0}: {1}'.format(server_address, e))
        # Activate
        listen_socket.listen(self.request_queue_size)
        # Get server host name and port
        host, port = self.listen_socket.getsockname()[:2]
        self.server_name = socket.getfqdn(host)
        self.server_port = port
        # Return headers set by Web framework/Web application
        self.headers_set = []

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
                # Handle one request and close the client connection.
                self.handle_one_request()
                os._exit(0)  # child exits here
            else:  # parent
                self.client_connection.close()  # close parent copy and loop over

    def handle_one_request(self):
        self.request_data = request_data = self.client_connection.recv(1024)
        if not isinstance(request_data, str):  # Python 3: text from bytes
            request_data = request_data.decode('iso-8859-1')
        # Print formatted request data a la 'curl -v'
        print(''.join(
            '< {line}\n'.format(line=line)
            for line in request_data.splitlines()
        ))

        self.parse_request(request_data)

        # Construct environment dictionary using request data
        env = self.get_environ()

        # It's time to call our application callable and get
        # back a result that will become HTTP response body
        result = self.application(env, self.start_response)

        # Construct a response and send it back to the client
        self.finish_response(result)

    def parse_request(self, text):
        request_line = text.splitlines()[0]
        request_line = request_line.rstrip('\r\n')
        # Break down the request line into components
        (self.request_method,  # GET
         self.path,            # /hello
         self.request_version  # HTTP/1.1
         ) = request_line.split()

    def get_environ(self):
        env = {}
        # The following code snippet does not follow PEP8 conventions
        # but it's formatted the way it is for demonstration purposes
        # to emphasize the required variables and their values
        #
        # Required WSGI variables
        env['wsgi.version']      = (1, 0)
        env['wsgi.url_scheme']   = 'http'
        env['wsgi.input']        = io.BytesIO(self.request_data)
        env['wsgi.errors']       = sys.stderr
        env['wsgi.multithread']  = False
        env['wsgi.multiprocess'] = True
        env['wsgi.run_once']     = False
        # Required CGI variables
        env['REQUEST_METHOD']    = self.request_method    # GET
        env['PATH_INFO']         = self.path.split('?')[0]  # /hello
        env['QUERY_STRING']      = self.path.partition('?')[2]  # a=1
        env['SERVER_NAME']       = self.server_name       # localhost
        env['SERVER_PORT']       = str(self.server_port)  # 8888
        return env

    def start_response(self, status, response_headers, exc_info=None):
        # Add necessary server headers
        server_headers = [
            ('Date', 'Mon, 16 Nov 2015 08:00:00 GMT'),
            ('Server', 'WSGIServer 0.3'),
        ]
        self.headers_set = [status, response_headers + server_headers]
        # To adhere to WSGI specification the start_response must return
        # a 'write' callable. For simplicity's sake we'll ignore that detail
        # for now.
        # return self.finish_response

    def finish_response(self, result):
        try:
            status, response_headers = self.headers_set
            response = 'HTTP/1.1 {status}\r\n'.format(status=status)
            for header in response_headers:
                response += '{0}: {1}\r\n'.format(*header)
            response += '\r\n'
            response = response.encode('iso-8859-1')
            for data in result:
                response += data
            # Print formatted response data a la 'curl -v'
            print(''.join(
                '> {line}\n'.format(line=line)
                for line in response.decode('iso-8859-1').splitlines()
            ))
            self.client_connection.sendall(response)
        finally:
            self.client_connection.close()


def make_server(server_address, application):
    signal.signal(signal.SIGCHLD, grim_reaper)
    server = WSGIServer(server_address)
    server.set_app(application)
    return server


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit('Provide a WSGI application object as module:callable')
    app_path = sys.argv[1]
    sys.path.insert(0, os.getcwd())  # the app's module, from this folder
    try:
        module, application = app_path.split(':')
        application = getattr(importlib.import_module(module), application)
    except (ValueError, ImportError, AttributeError) as e:
        sys.exit('Cannot load {0}: {1}'.format(app_path, e))
    httpd = make_server(SERVER_ADDRESS, application)
    print('WSGIServer: Serving HTTP on port {port} ...\n'.format(
        port=httpd.server_port))
    httpd.serve_forever()
