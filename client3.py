#####################################################################
# Test client - client3.py                                          #
#                                                                   #
# Tested with Python 2.7 & Python 3.6-3.13 on Linux                 #
#                                                                   #
# Forks --max-clients clients; each opens --max-conns connections,  #
# sends a request on each, keeps them open and exits. The parent    #
# waits for every client and prints one summary line.               #
#####################################################################
import argparse
import errno
import os
import socket
import sys
import time

SERVER_ADDRESS = (
    os.environ.get('HOST') or 'localhost', os.environ.get('PORT') or '8888')
REQUEST = b"""\
GET /hello HTTP/1.1
Host: {host}:{port}

"""


def read_response(sock, timeout):
    """Read until the server closes the connection (FIN); return the bytes."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)


def client(server_address, max_conns, read_timeout, report):
    """One client: open max_conns connections, report 'made failed error'."""
    request = REQUEST.replace(b'{host}', server_address[0].encode()).replace(
        b'{port}', str(server_address[1]).encode())
    socks = []
    made, failed, error = 0, 0, ''
    for connection_num in range(max_conns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        socks.append(sock)  # keep it open until this client exits
        try:
            sock.connect(server_address)
            sock.sendall(request)
            if read_timeout is not None and not read_response(
                    sock, read_timeout):
                raise socket.error(errno.ENODATA, 'empty response')
            made += 1
        except (socket.error, socket.timeout) as e:
            failed += 1
            error = error or str(e) or e.__class__.__name__
    os.write(report, '{0} {1} {2}\n'.format(made, failed, error).encode())


def main(server_address, max_clients, max_conns, read_timeout):
    started = time.time()
    report_r, report_w = os.pipe()
    pids, made, failed, errors = [], 0, 0, {}
    for client_num in range(max_clients):
        try:
            pid = os.fork()
        except OSError as e:  # EAGAIN: too many processes
            failed += max_conns
            errors[str(e)] = errors.get(str(e), 0) + max_conns
            continue
        if pid == 0:  # child: one client
            os.close(report_r)
            try:
                client(server_address, max_conns, read_timeout, report_w)
            except Exception as e:  # report it rather than die silently
                os.write(report_w, '0 {0} {1}: {2}\n'.format(
                    max_conns, e.__class__.__name__, e).encode())
            finally:
                os._exit(0)
        pids.append(pid)
    os.close(report_w)

    reported = 0
    with os.fdopen(report_r, 'rb') as reports:
        for line in reports:  # one line per client, until all have exited
            m, f, error = line.decode().rstrip('\n').split(' ', 2)
            made, failed, reported = made + int(m), failed + int(f), reported + 1
            if error:
                errors[error] = errors.get(error, 0) + int(f)
    if reported < len(pids):  # a client died before it could report
        failed += (len(pids) - reported) * max_conns
        errors['client died'] = (len(pids) - reported) * max_conns
    for pid in pids:
        os.waitpid(pid, 0)  # client3 leaves no zombies of its own

    for error, count in sorted(errors.items()):
        sys.stderr.write('{0} x {1}\n'.format(count, error))
    print('clients: {0}, connections: {1}, failed: {2}, seconds: {3:.2f}'.format(
        max_clients, made, failed, time.time() - started))
    return 1 if failed else 0


if __name__ == '__main__':
    parser = argparse.ArgumentParser(
        description='Test client for LSBAWS.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        '--max-conns',
        type=int,
        default=1,
        help='Maximum number of connections per client.'
    )
    parser.add_argument(
        '--max-clients',
        type=int,
        default=1,
        help='Maximum number of clients.'
    )
    parser.add_argument(
        '--host',
        default=SERVER_ADDRESS[0],
        help='Server host (env HOST).'
    )
    parser.add_argument(
        '--port',
        type=int,
        default=SERVER_ADDRESS[1],
        help='Server port (env PORT).'
    )
    parser.add_argument(
        '--read-timeout',
        type=float,
        metavar='SECONDS',
        help='Also read each response until the server closes the '
             'connection; a connection counts as failed if that takes '
             'longer than SECONDS (default: do not read, like the article).'
    )
    args = parser.parse_args()
    if args.max_clients < 1 or args.max_conns < 1:
        parser.error('--max-clients and --max-conns must be at least 1')
    if not 0 <= args.port <= 65535:
        parser.error('--port must be 0-65535')
    if args.read_timeout is not None and not args.read_timeout > 0:
        parser.error('--read-timeout must be more than 0 seconds')
    sys.exit(main((args.host, args.port), args.max_clients, args.max_conns,
                  args.read_timeout))
