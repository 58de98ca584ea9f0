# My webserver3g.py, typed while reading Part 3 in my own way: Python 3.8+,
# socket.create_server, with, f-strings, other names, \r\n in the answer.
import os
import signal
import socket

ADDRESS = ('', 8888)
BACKLOG = 1024

ANSWER = (
    'HTTP/1.1 200 OK\r\n'
    'Content-Type: text/plain\r\n'
    'Content-Length: 14\r\n'
    '\r\n'
    'Hello, World!\n'
).encode()


def reap_children(signum, frame):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # no child left at all
            return
        if pid == 0:  # the others still run
            return


def serve(conn):
    with conn:
        data = conn.recv(1024)
        print(data.decode(), flush=True)
        conn.sendall(ANSWER)


def main():
    with socket.create_server(ADDRESS, backlog=BACKLOG) as server:
        print(f'Serving HTTP on port {ADDRESS[1]} ...')
        signal.signal(signal.SIGCHLD, reap_children)
        while True:
            try:
                conn, peer = server.accept()
            except InterruptedError:  # Python 3.5+ restarts it anyway
                continue
            if os.fork() == 0:
                server.close()
                serve(conn)
                os._exit(0)
            conn.close()


if __name__ == '__main__':
    main()
