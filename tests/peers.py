"""The standard library's forking servers, doing the steps' work, for tests/bench.py.

    PORT=0 python tests/peers.py forkingtcp   # socketserver.ForkingTCPServer, 3g's reply
    PORT=0 python tests/peers.py wsgiref      # wsgiref + ForkingMixIn, tests/apps/hello.py

Each prints the steps' banner (`Serving HTTP on port N ...`) and serves until killed.
"""
import os
import socketserver
import sys

HELLO_REPLY = b'HTTP/1.1 200 OK\n\nHello, World!\n'  # 3g's reply, byte for byte


class HelloHandler(socketserver.BaseRequestHandler):
    """3g's handle_request: read the request, print it, reply."""

    def handle(self):
        request = self.request.recv(1024)
        print(request.decode())
        self.request.sendall(HELLO_REPLY)


def main(name):
    address = (os.environ.get('HOST', ''), int(os.environ.get('PORT', '8888')))
    if name == 'forkingtcp':
        class Server(socketserver.ForkingTCPServer):
            allow_reuse_address = True
            request_queue_size = 1024  # as 3g's
        server = Server(address, HelloHandler)
    elif name == 'wsgiref':
        from wsgiref.simple_server import WSGIServer, make_server
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'apps'))
        from hello import app

        class ForkingWSGIServer(socketserver.ForkingMixIn, WSGIServer):
            request_queue_size = 1024  # as 3h's
        server = make_server(address[0], address[1], app, ForkingWSGIServer)
    else:
        sys.exit('usage: peers.py forkingtcp|wsgiref')
    print('Serving HTTP on port {0} ...'.format(server.server_address[1]), flush=True)
    server.serve_forever()


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else '')
