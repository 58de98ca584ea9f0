###########################################################################
# Concurrent server - webserver3d.py                                      #
#                                                                         #
# Tested with Python 2.7 & Python 3.6-3.13 on Linux                       #
###########################################################################
import os
import socket

try:  # HOST and PORT come from the environment; PORT=0 picks a free port
    SERVER_ADDRESS = (HOST, PORT) = (
        os.environ.get('HOST', ''), int(os.environ.get('PORT', '8888')))
except ValueError as e:
    raise SystemExit('PORT and SLEEP_SECONDS must be numbers: %s' % e)
REQUEST_QUEUE_SIZE = 5


def handle_request(client_connection):
    request = client_connection.recv(1024)
    http_response = b"""\
HTTP/1.1 200 OK

Hello, World!
"""
    client_connection.sendall(http_response)


def serve_forever():
    listen_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listen_socket.bind(SERVER_ADDRESS)
    except (socket.error, OverflowError) as e:
        raise SystemExit(
            'Cannot listen on {0}: {1}'.format(SERVER_ADDRESS, e))
    listen_socket.listen(REQUEST_QUEUE_SIZE)
    print('Serving HTTP on port {port} ...'.format(
        port=listen_socket.getsockname()[1]))

    clients = []
    while True:
        client_connection, client_address = listen_socket.accept()
        # store the reference otherwise it's garbage collected
        # on the next loop run
        clients.append(client_connection)
        pid = os.fork()
        if pid == 0:  # child
            listen_socket.close()  # close child copy
            handle_request(client_connection)
            client_connection.close()
            os._exit(0)  # child exits here
        else:  # parent
            # client_connection.close()
            print(len(clients))

if __name__ == '__main__':
    serve_forever()
