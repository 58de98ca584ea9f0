"""The peers the steps are measured against in tools/bench.py.

    PORT=0 python tools/peers.py forkingtcp          # socketserver.ForkingTCPServer, 3g's reply
    PORT=0 python tools/peers.py threading           # ThreadingTCPServer, a thread each, 3g's reply
    PORT=0 python tools/peers.py asyncio             # asyncio streams, one event loop, 3g's reply
    PORT=0 python tools/peers.py wsgiref hello:app   # wsgiref + ForkingMixIn, an app of tests/apps
    PORT=0 python tools/peers.py wsgiref-threads hello:app  # wsgiref + ThreadingMixIn
    PORT=0 python tools/peers.py prefork             # 2 workers forked up front, 3g's reply
    PORT=0 python tools/peers.py gunicorn hello:app  # gunicorn, 2 sync workers (pip install it)

Each prints the steps' banner (`Serving HTTP on port N ...`) once it listens,
and serves until killed. The forking ones may have 1024 children at once
(ForkingMixIn.max_children is 40 by default), and the others take as many
connections as come: like 3g and 3i, none is held back by a cap.
"""
import asyncio
import importlib
import os
import socket
import socketserver
import sys

HELLO_REPLY = b'HTTP/1.1 200 OK\n\nHello, World!\n'  # 3g's reply, byte for byte
APPS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, 'tests', 'apps')
WORKERS = 2  # as many as this project's machines have cores


class HelloHandler(socketserver.BaseRequestHandler):
    """3g's handle_request: read the request, print it, reply."""

    def handle(self):
        request = self.request.recv(1024)
        print(request.decode())
        self.request.sendall(HELLO_REPLY)


def load_app(path):
    sys.path.insert(0, APPS)
    module, _, name = path.partition(':')
    return getattr(importlib.import_module(module), name)


async def hello(reader, writer):
    """3g's handle_request as a coroutine: one read, print it, reply. While it
    waits, the event loop serves the other connections."""
    request = await reader.read(1024)
    print(request.decode())
    writer.write(HELLO_REPLY)
    await writer.drain()
    writer.close()


def event_loop(address):
    """One process, one thread: asyncio's streams, every connection a task."""
    loop = asyncio.new_event_loop()  # run_until_complete and run_forever: 3.6 as well
    server = loop.run_until_complete(asyncio.start_server(
        hello, address[0] or None, address[1], backlog=1024, reuse_address=True))
    print('Serving HTTP on port {0} ...'.format(server.sockets[0].getsockname()[1]),
          flush=True)
    loop.run_forever()


def listening_socket(address):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(1024)
    return sock


def prefork(address):
    """Workers forked once, up front, each blocking in accept() on the one
    listening socket: the kernel hands each connection to one of them."""
    sock = listening_socket(address)
    print('Serving HTTP on port {0} ...'.format(sock.getsockname()[1]), flush=True)
    for _ in range(WORKERS):
        if os.fork() == 0:
            while True:
                connection, _ = sock.accept()
                request = connection.recv(1024)
                print(request.decode())
                connection.sendall(HELLO_REPLY)
                connection.close()
    while True:
        os.wait()


def gunicorn(address, app):
    from gunicorn.app.base import BaseApplication

    sock = listening_socket(address)

    class Peer(BaseApplication):
        def load_config(self):
            for key, value in [('bind', 'fd://%d' % sock.fileno()), ('workers', WORKERS),
                               ('worker_class', 'sync'), ('loglevel', 'warning')]:
                self.cfg.set(key, value)

        def load(self):
            return app

    print('Serving HTTP on port {0} ...'.format(sock.getsockname()[1]), flush=True)
    Peer().run()


def main(name, app=None):
    address = (os.environ.get('HOST', ''), int(os.environ.get('PORT', '8888')))
    if name == 'forkingtcp':
        class Server(socketserver.ForkingTCPServer):
            allow_reuse_address = True
            request_queue_size = 1024  # as 3g's
            max_children = 1024
        server = Server(address, HelloHandler)
    elif name == 'threading':
        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            request_queue_size = 1024  # as 3g's
            daemon_threads = True
        server = Server(address, HelloHandler)
    elif name == 'asyncio':
        return event_loop(address)
    elif name in ('wsgiref', 'wsgiref-threads') and app:
        from wsgiref.simple_server import WSGIServer, make_server

        class ForkingWSGIServer(socketserver.ForkingMixIn, WSGIServer):
            request_queue_size = 1024  # as 3i's
            max_children = 1024

        class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
            request_queue_size = 1024  # as 3i's
            daemon_threads = True
        server = make_server(address[0], address[1], load_app(app), ForkingWSGIServer
                             if name == 'wsgiref' else ThreadingWSGIServer)
    elif name == 'prefork':
        return prefork(address)
    elif name == 'gunicorn' and app:
        return gunicorn(address, load_app(app))
    else:
        sys.exit('usage: peers.py forkingtcp|threading|asyncio|prefork|wsgiref APP|'
                 'wsgiref-threads APP|gunicorn APP')
    print('Serving HTTP on port {0} ...'.format(server.server_address[1]), flush=True)
    server.serve_forever()


if __name__ == '__main__':
    main(*sys.argv[1:3])
