"""webserver3i.py used as a library, the article's way: make_server() must
install the SIGCHLD handler itself, or every child becomes a zombie."""
import os
import sys

sys.path.insert(0, os.environ['LSBAWS_SCRIPTS'])
import webserver3i  # noqa: E402
from hello import app  # noqa: E402

httpd = webserver3i.make_server(('127.0.0.1', 0), app)
print('Serving HTTP on port {0} ...'.format(httpd.server_port), flush=True)
httpd.serve_forever()
