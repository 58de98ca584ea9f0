"""A small Flask app (Part 2 of the series served Flask) for webserver3i.py."""
import hashlib

from flask import Flask, Response, jsonify, redirect, request, url_for

app = Flask(__name__)


@app.route('/')
def index():
    return 'Hello from Flask'


@app.route('/form', methods=['POST'])
def form():
    return 'name={0} age={1}'.format(request.form['name'], request.form['age'])


@app.route('/stream')
def stream():
    """A generator's body, of no length known up front: one piece per size
    in the query (e.g. ?1,0,5), piece i made of the i-th letter."""
    sizes = [int(size) for size in request.query_string.split(b',')]
    return Response(bytes([97 + i % 26]) * size
                    for i, size in enumerate(sizes))


@app.route('/go')
def go():
    return redirect(url_for('index'))


@app.route('/upload', methods=['POST'])
def upload():
    return '{0} bytes'.format(len(request.get_data()))


@app.route('/sha256', methods=['POST', 'PUT'])
def sha256():
    """The body's SHA-256, checked here against the X-SHA256 field."""
    data = request.get_data()
    reply = {'length': len(data), 'sha256': hashlib.sha256(data).hexdigest(),
             'CONTENT_LENGTH': request.environ.get('CONTENT_LENGTH')}
    match = reply['sha256'] == request.headers.get('X-SHA256')
    return jsonify(reply), 200 if match else 422
