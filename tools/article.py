"""The article's listings, made from this project's steps by taking out what
the project added to them.

    python tools/article.py DIR      # write webserver3a.py ... webserver3h.py, client3.py into DIR

Each step here reads HOST, PORT and SLEEP_SECONDS from the environment, says
in one line why it cannot listen, and names the port it listens on. Taken
out, what is left is the article's listing (comments aside, see
tests/test_article.py, which compares the two where the article's text is
beside the clone): `SERVER_ADDRESS = (HOST, PORT) = '', 8888`,
`time.sleep(60)` (3b, 3c) or `time.sleep(3)` (3e), a bare `bind()`, and
`print('Serving HTTP on port {port} ...'.format(port=PORT))`. 3h, the
exercise, has no listing in the article (the author's own, Python 2 only, is
not copied here): it is this project's own 3h, written in Part 2's shape, with
the same things taken out. client3.py is the article's own listing, as a
learner types it.

These are what `python -m pytest --mine=DIR` is checked on (CI, and
tests/test_article.py): a learner's files, unchanged.
"""
import io
import os
import re
import sys
import tokenize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTICLE = os.path.join(os.path.dirname(ROOT), 'shared', 'article', 'lsbaws-part3.ru.md')
STEPS = ['webserver3%s.py' % step for step in 'abcdefgh']
FILES = STEPS + ['client3.py']

# What the project added, and what the article has in its place. Each must
# match exactly once where it is expected (else the steps changed: update here).
SETTINGS = re.compile(  # HOST, PORT (and SLEEP_SECONDS) from the environment
    r"^try:  # HOST and PORT[^\n]*\n"
    r"    SERVER_ADDRESS = \(HOST, PORT\) = \(\n[^\n]*\n"
    r"(?:    SLEEP_SECONDS = float\(os\.environ\.get\('SLEEP_SECONDS', '(\d+)'\)\)\n)?"
    r"except ValueError as e:\n    raise SystemExit\([^\n]*\)\n", re.M)
BIND = re.compile(  # one line when it cannot listen
    r"^( *)try:\n\1    (\w+\.bind\(\w+\))\n"
    r"\1except \(socket\.error, OverflowError\) as e:\n"
    r"\1    raise SystemExit\(\n[^\n]*\n", re.M)
BANNER = re.compile(  # the port it really listens on
    r"print\('((?:WSGIServer: )?Serving HTTP on port \{port\} \.\.\.(?:\\n)?)'\.format\(\n"
    r" *port=[^\n]*\)\)")
LOAD_APP = re.compile(  # 3h: one line when the app cannot be loaded
    r"^    try:\n((?:        [^\n]*\n){2})"
    r"    except \(ValueError, ImportError, AttributeError\) as e:\n"
    r"        sys\.exit\([^\n]*\)\n", re.M)

# The article's client3.py, as its listing reads (the author's repository
# has the same file): each client exits after its first connection.
CLIENT3 = '''\
#####################################################################
# Test client - client3.py                                          #
#                                                                   #
# Tested with Python 2.7.9 & Python 3.4 on Ubuntu 14.04 & Mac OS X  #
#####################################################################
import argparse
import errno
import os
import socket


SERVER_ADDRESS = 'localhost', 8888
REQUEST = b"""\\
GET /hello HTTP/1.1
Host: localhost:8888

"""


def main(max_clients, max_conns):
    socks = []
    for client_num in range(max_clients):
        pid = os.fork()
        if pid == 0:
            for connection_num in range(max_conns):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.connect(SERVER_ADDRESS)
                sock.sendall(REQUEST)
                socks.append(sock)
                print(connection_num)
                os._exit(0)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(
        description='Test client for LSBAWS.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        '--max-conns',
        type=int,
        default=1024,
        help='Maximum number of connections per client.'
    )
    parser.add_argument(
        '--max-clients',
        type=int,
        default=1,
        help='Maximum number of clients.'
    )
    args = parser.parse_args()
    main(args.max_clients, args.max_conns)
'''


def substitute(pattern, replacement, text, name):
    text, count = pattern.subn(replacement, text)
    if count != 1:
        raise ValueError('%s: %d matches of %s, not 1: tools/article.py is out of date'
                         % (name, count, pattern.pattern[:40]))
    return text


def derived(name, root=ROOT):
    """The article's listing of step name, from this project's file."""
    if name == 'client3.py':
        return CLIENT3
    with open(os.path.join(root, name)) as f:
        text = f.read()
    sleep = SETTINGS.search(text)
    text = substitute(SETTINGS, "SERVER_ADDRESS = (HOST, PORT) = '', 8888\n", text, name)
    if sleep and sleep.group(1):
        text = text.replace('time.sleep(SLEEP_SECONDS)', 'time.sleep(%s)' % sleep.group(1))
    text = substitute(BIND, r'\1\2\n', text, name)
    text = substitute(BANNER, r"print('\1'.format(port=PORT))", text, name)
    if name == 'webserver3h.py':
        text = substitute(LOAD_APP, lambda m: re.sub('(?m)^    ', '', m.group(1)), text, name)
    if 'os.' not in text:  # os was imported for os.environ alone
        text = text.replace('import os\n', '', 1)
    return text


def write(directory, names=FILES):
    if not os.path.isdir(directory):
        os.makedirs(directory)
    for name in names:
        with open(os.path.join(directory, name), 'w') as f:
            f.write(derived(name))


def listings(markdown):
    """{file name: code} of the article's listings in its text."""
    found = {}
    for block in re.findall(r'^```\w*\n(.*?)^```', markdown, re.M | re.S):
        title = re.search(r'^# [\w ]+ - (\w+\.py) ', block, re.M)
        if block.startswith('####') and title:
            found[title.group(1)] = block
    return found


def code(text):
    """The code lines of a listing: comments and blank lines out, ends stripped."""
    lines = text.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            row, column = token.start
            lines[row - 1] = lines[row - 1][:column]
    return [line.rstrip() for line in lines if line.strip()]


if __name__ == '__main__':
    if len(sys.argv) != 2 or sys.argv[1].startswith('-'):
        sys.exit('usage: python tools/article.py DIR')
    write(sys.argv[1])
    print('the article\'s listings, from this project\'s steps: %s in %s'
          % (', '.join(FILES), sys.argv[1]))
