"""A small Flask app (Part 2 of the series served Flask) for webserver3h.py."""
from flask import Flask, redirect, request, url_for

app = Flask(__name__)


@app.route('/')
def index():
    return 'Hello from Flask'


@app.route('/form', methods=['POST'])
def form():
    return 'name={0} age={1}'.format(request.form['name'], request.form['age'])


@app.route('/go')
def go():
    return redirect(url_for('index'))


@app.route('/upload', methods=['POST'])
def upload():
    return '{0} bytes'.format(len(request.get_data()))
