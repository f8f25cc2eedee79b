"""`evomt serve`: the grown system resident in one process, answering TF Serving's REST API.

Every served task is a TF Serving "model" named by the task (or its signature key, e.g.
`dsprites_label_x_position` for `dsprites/label_x_position`):

    GET  /v1/models/TASK                  status, as TF Serving answers it (every URL of a
                                          task also as /v1/models/TASK/versions/1...)
    GET  /v1/models/TASK/metadata         TF Serving's signature_def (input "images",
                                          output "logits") and the task's contract
    POST /v1/models/TASK:predict          {"instances": [...]} -> {"predictions": [...]}
                                          {"inputs": [...]}    -> {"outputs": [...]}
    POST /v1/models/TASK:predict_image    PNG/JPEG bytes -> {"predictions": [logits],
                                          "classes": [the most likely class], and
                                          "class_names" when the task's data named them}
    GET  /v1/tasks                        every task, its key and image size
    POST /v1/tasks:predict                {"tasks": [...], "instances"|"inputs": ...}
    POST /v1/tasks:predict_image?task=A&task=B   one image, several tasks: one row
                                          each of "predictions", "classes" (and
                                          "class_names" of tasks whose data named them)

Instances are float32 images (S, S, 3) scaled to [-1, 1] (S: the task's image size, see
its metadata); image bytes get the task's own preprocessing (RGB, resized to S, scaled to
[-1, 1]). All tasks share one `MultiTaskModel` over the system's own layers, so each
component is held once; a request for several tasks runs their shared leading components
once, then branches. Errors are TF Serving-style JSON, `{"error": "..."}`: 400 for a bad
request (images outside [-1, 1] included), 404 for an unknown task, 405 for a GET of a
predict URL, 413 for a body over the size limit. Tasks added while it runs are served
after a restart.

The HTTP server is Werkzeug's threaded WSGI server under a Flask app (the optional extra
`serve`: `pip install 'keras_evomt[serve]'`): one process keeps the model resident and
answers from a thread per connection. It binds 127.0.0.1 unless told otherwise; for
traffic from other machines put it behind a reverse proxy, or serve the exported
SavedModel with TF Serving itself. SIGTERM or Ctrl-C stops accepting connections and
lets the requests in flight finish.

Example:
    served = ServedSystem(System.load("runs/demo"))
    serve(served, port=8501)  # blocks until SIGTERM
"""

from __future__ import annotations

import io
import json
import logging
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import tensorflow as tf

from keras_evomt.data.pipeline import eval_image
from keras_evomt.errors import UserInputError, closest
from keras_evomt.export import preprocessing_contract
from keras_evomt.multitask import multitask_model, signature_keys
from keras_evomt.system import System

DEFAULT_PORT = 8501
DEFAULT_MAX_REQUEST_MB = 64
MAX_IMAGE_PIXELS = 64_000_000  # decoded image bytes would exceed 190 MB beyond this
IDLE_CONNECTION_S = 5  # an idle keep-alive connection is closed after this
IMAGE_FORMATS = ("PNG", "JPEG")


def signature_def(contract: dict[str, Any]) -> dict[str, Any]:
    """A task's `serving_default` signature as TF Serving's metadata gives it (proto3
    JSON: sizes are strings, -1 an unknown size).

    Example:
        signature_def(served.contracts["digits"])["signature_def"]["serving_default"]
    """

    def tensor(spec: dict[str, Any]) -> dict[str, Any]:
        dims = [{"size": str(-1 if d is None else d), "name": ""} for d in spec["shape"]]
        return {
            "dtype": "DT_FLOAT",
            "tensor_shape": {"dim": dims, "unknown_rank": False},
            "name": spec["name"],
        }

    inputs, outputs = contract["input"], contract["output"]
    signature = {
        "inputs": {inputs["name"]: tensor(inputs)},
        "outputs": {outputs["name"]: tensor(outputs)},
        "method_name": "tensorflow/serving/predict",
    }
    return {"signature_def": {"serving_default": signature}}


class BadRequest(Exception):
    """A request the server rejects; `status` is its HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class ServedSystem:
    """The tasks to serve over one MultiTaskModel, one traced function per task set.

    Example:
        served = ServedSystem(system, ["digits"])
        served.predict(["digits"], images)  # {"digits": logits}
    """

    def __init__(self, system: System, tasks: Iterable[str] | None = None):
        tasks = list(dict.fromkeys(system.paths if tasks is None else tasks))
        self.model = multitask_model(system, tasks)  # the system's own layers, no copies
        self.tasks = self.model.tasks
        self.keys = signature_keys(self.tasks)
        self.contracts = {t: preprocessing_contract(system, t, "serve") for t in self.tasks}
        self._names = {**{key: t for t, key in self.keys.items()}, **{t: t for t in self.tasks}}
        self._functions: dict[tuple[str, ...], Callable] = {}
        self._lock = threading.Lock()

    def task(self, name: str) -> str:
        """The task a URL names (task name or signature key); 404 if there is none."""
        if name in self._names:
            return self._names[name]
        hint = closest(name, self._names)
        raise BadRequest(
            f"Servable not found for request: Latest({name}); this server has: "
            f"{', '.join(self.tasks)}{'; ' + hint if hint else ''}",
            status=404,
        )

    def knows(self, name: str) -> bool:
        return name in self._names

    def image_size(self, task: str) -> int:
        return self.model.image_sizes[task]

    def predict(self, tasks: list[str], images: np.ndarray) -> dict[str, np.ndarray]:
        """Logits per task for float32 `images` (N, S, S, 3) in [-1, 1]."""
        size = self._same_size(tasks)
        _check_images(images, size)
        outputs = self._function(tuple(tasks), size)(tf.constant(images))
        return {task: outputs[task].numpy() for task in tasks}

    def preprocess(self, data: bytes, size: int) -> np.ndarray:
        """PNG/JPEG bytes -> float32 (1, S, S, 3) in [-1, 1], as the task's data pipeline
        prepares an evaluation image: decoded by TensorFlow as image folders are (16-bit
        PNGs scaled to 8 bits), after Pillow has read the header to refuse huge images."""
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise BadRequest(
                        f"image of {image.width}x{image.height} pixels is too large "
                        f"(at most {MAX_IMAGE_PIXELS:,} pixels)."
                    )
            pixels = tf.io.decode_image(data, channels=3, expand_animations=False)
        except tf.errors.InvalidArgumentError as error:
            raise BadRequest(
                f"the body is not a readable PNG or JPEG image ({error.message})."
            ) from None
        except UnidentifiedImageError:
            sent_json = data.lstrip()[:1] in (b"{", b"[")
            raise BadRequest(
                "the body is not a PNG or JPEG image"
                + ("; JSON bodies go to :predict." if sent_json else ".")
            ) from None
        except (OSError, ValueError) as error:
            raise BadRequest(f"the body is not a readable PNG or JPEG image ({error}).") from None
        return eval_image(pixels, size, (0.0, 255.0)).numpy()[None]

    def _same_size(self, tasks: list[str]) -> int:
        sizes = {self.image_size(t) for t in tasks}
        if len(sizes) > 1:
            detail = ", ".join(f"{t}: {self.image_size(t)}" for t in tasks)
            raise BadRequest(
                f"these tasks take different image sizes ({detail}); send one request per "
                "size, or send image bytes to /v1/tasks:predict_image."
            )
        return sizes.pop()

    def _function(self, tasks: tuple[str, ...], size: int) -> Callable:
        """One traced function per task set: only those tasks' paths are in its graph."""
        with self._lock:
            if tasks not in self._functions:
                function = tf.function(
                    lambda images: self.model(images, tasks=list(tasks), training=False),
                    input_signature=[tf.TensorSpec((None, size, size, 3), tf.float32)],
                    autograph=False,
                )
                function.get_concrete_function()  # traced here: one trace at a time
                self._functions[tasks] = function
            return self._functions[tasks]


def _check_images(images: np.ndarray, size: int) -> None:
    expected = (size, size, 3)
    if images.ndim != 4 or images.shape[1:] != expected or images.shape[0] == 0:
        raise BadRequest(
            f"expected a batch of images of shape {list(expected)} (float32 in [-1, 1]). "
            f"Received: shape {list(images.shape)}"
        )
    low, high = float(images.min()), float(images.max())
    if not (-1.001 <= low and high <= 1.001):  # NaN fails too
        raise BadRequest(
            f"expected images scaled to [-1, 1]. Received: values in [{low:g}, {high:g}]; "
            "send the PNG or JPEG bytes to :predict_image for the task's own scaling."
        )


# === Requests ===
def _json_object(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadRequest(f"JSON Parse error: {error}") from None
    if not isinstance(request, dict):
        raise BadRequest("the request must be a JSON object with 'instances' or 'inputs'.")
    return request


def parse_predict(request: dict[str, Any]) -> tuple[np.ndarray, bool]:
    """A TF Serving predict request -> (images, whether it is in the row format)."""
    if ("instances" in request) == ("inputs" in request):
        raise BadRequest("Missing 'inputs' or 'instances' key (exactly one of them).")
    signature = request.get("signature_name", "serving_default")
    if signature != "serving_default":
        raise BadRequest(
            f"unknown signature_name {signature!r}; each task has one signature, "
            "'serving_default' (or leave signature_name out)."
        )
    row = "instances" in request
    data = request["instances"] if row else request["inputs"]
    if row and isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        data = [_named_input(x) for x in data]
    elif not row and isinstance(data, dict):
        data = _named_input(data)
    try:
        images = np.asarray(data, dtype=np.float32)
    except (ValueError, TypeError):
        raise BadRequest(
            "images must be nested lists of numbers, one (S, S, 3) array per image."
        ) from None
    if not np.isfinite(images).all():
        raise BadRequest("images contain NaN or infinite values.")
    return images, row


def _named_input(value: dict) -> Any:
    if set(value) != {"images"}:
        raise BadRequest(f"the only input is 'images'. Received: {sorted(value)}")
    return value["images"]


def _tasks_of(
    served: ServedSystem, names: Any, expected: str = "'tasks' must be a non-empty list"
) -> list[str]:
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise BadRequest(f"{expected} of task names.")
    return list(dict.fromkeys(served.task(name) for name in names))


def _rows(outputs: dict[str, np.ndarray]) -> list[dict[str, list]]:
    """{task: (N, C)} -> one {task: logits} per instance (TF Serving's row format)."""
    n = len(next(iter(outputs.values())))
    return [{task: y[i].tolist() for task, y in outputs.items()} for i in range(n)]


# === The app ===
def create_app(served: ServedSystem, *, max_request_mb: float = DEFAULT_MAX_REQUEST_MB):
    """A Flask app answering TF Serving's REST API for `served`."""
    flask = _flask()
    from werkzeug.exceptions import HTTPException

    app = flask.Flask("keras_evomt.serve")
    app.config["MAX_CONTENT_LENGTH"] = int(max_request_mb * 2**20)
    app.json.sort_keys = False  # outputs in the order the request named the tasks

    @app.errorhandler(BadRequest)
    def bad_request(error: BadRequest):
        return flask.jsonify(error=str(error)), error.status

    @app.errorhandler(413)
    def too_large(error: HTTPException):
        return flask.jsonify(
            error=f"{error.name}: the request's body is over the server's limit of "
            f"{max_request_mb:g} MB; send fewer images a request, or restart the server "
            "with a larger --max-request-mb (max_request_mb= from Python)."
        ), 413

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return flask.jsonify(error=f"{error.name}: {error.description}"), error.code

    @app.errorhandler(Exception)
    def internal_error(error: Exception):  # never a crash: the next request is served
        app.logger.exception("request failed")
        return flask.jsonify(error=f"internal error: {type(error).__name__}: {error}"), 500

    def predict_body(tasks: list[str], request: dict[str, Any] | None = None):
        if request is None:
            request = _json_object(flask.request.get_data())
        images, row = parse_predict(request)
        return served.predict(tasks, images), row

    @app.get("/v1/tasks")
    def list_tasks():
        return flask.jsonify(
            tasks=[
                {"task": t, "key": served.keys[t], "image_size": served.image_size(t)}
                for t in served.tasks
            ]
        )

    @app.post("/v1/tasks:predict")
    def predict_tasks():
        request = _json_object(flask.request.get_data())
        tasks = _tasks_of(served, request.get("tasks"))
        outputs, row = predict_body(tasks, request)
        return flask.jsonify(
            {"predictions": _rows(outputs)}
            if row
            else {"outputs": {t: y.tolist() for t, y in outputs.items()}}
        )

    @app.post("/v1/tasks:predict_image")
    def predict_tasks_image():
        tasks = _tasks_of(
            served,
            flask.request.args.getlist("task"),
            "the URL must name the tasks as ?task=A&task=B, a non-empty list",
        )
        data = _image_bytes(flask.request)
        outputs = {}
        for size in dict.fromkeys(served.image_size(t) for t in tasks):
            group = [t for t in tasks if served.image_size(t) == size]
            outputs.update(served.predict(group, served.preprocess(data, size)))
        outputs = {t: outputs[t] for t in tasks}
        classes = {t: y.argmax(-1) for t, y in outputs.items()}
        names = {t: _class_names(served, t, c) for t, c in classes.items()}
        named = {t: np.asarray(n) for t, n in names.items() if n}
        return flask.jsonify(
            predictions=_rows(outputs),
            classes=_rows(classes),
            **({"class_names": _rows(named)} if named else {}),
        )

    @app.get("/v1/models/<path:spec>")
    def model_status(spec: str):
        spec = _unversioned(spec)
        if spec.endswith((":predict", ":predict_image")):
            raise BadRequest(f"{spec} takes POST requests, not GET.", status=405)
        name, _, tail = spec.rpartition("/")
        if tail == "metadata" and served.knows(name):
            task = served.task(name)
            return flask.jsonify(
                model_spec={"name": name, "signature_name": "serving_default", "version": "1"},
                metadata={
                    "signature_def": signature_def(served.contracts[task]),
                    "contract": served.contracts[task],
                },
            )
        served.task(spec)
        return flask.jsonify(
            model_version_status=[
                {
                    "version": "1",
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        )

    @app.post("/v1/models/<path:spec>")
    def model_predict(spec: str):
        name, _, verb = _unversioned(spec).rpartition(":")
        if verb not in ("predict", "predict_image") or not name:
            raise BadRequest(
                f"unknown request '{spec}'; use /v1/models/TASK:predict or "
                "/v1/models/TASK:predict_image.",
                status=404,
            )
        task = served.task(name)
        if verb == "predict_image":
            images = served.preprocess(_image_bytes(flask.request), served.image_size(task))
            logits = served.predict([task], images)[task]
            classes = logits.argmax(-1).tolist()
            names = _class_names(served, task, classes)
            named = {"class_names": names} if names else {}
            return flask.jsonify(predictions=logits.tolist(), classes=classes, **named)
        outputs, row = predict_body([task])
        return flask.jsonify({"predictions" if row else "outputs": outputs[task].tolist()})

    return app


def _class_names(served: ServedSystem, task: str, classes: Iterable[int]) -> list[str]:
    """The names of `classes` when the task's data named its classes, else []."""
    names = served.contracts[task]["output"]["class_names"]
    return [names[c] for c in classes] if names else []


def _unversioned(spec: str) -> str:
    """TF Serving's `TASK/versions/1[...]` as `TASK[...]`: every task has one version, 1."""
    match = re.fullmatch(r"(.+?)/versions/(\d+)(/metadata|:\w+)?", spec)
    if not match:
        return spec
    name, version, rest = match.groups()
    if version != "1":
        raise BadRequest(
            f"Servable not found for request: Specific({name}, {version}); each task has "
            "one version, 1.",
            status=404,
        )
    return name + (rest or "")


def _image_bytes(request) -> bytes:
    """The image: the raw body, or the first file of a multipart form."""
    if request.mimetype == "multipart/form-data":
        if not request.files:
            raise BadRequest("the form has no file; send the image as its file field.")
        return next(iter(request.files.values())).read()
    data = request.get_data()  # whatever the Content-Type (curl --data-binary says a form)
    if not data:
        raise BadRequest("the body is empty; send the PNG or JPEG bytes as the body.")
    return data


# === The server ===
def make_server(app, host: str = "127.0.0.1", port: int = DEFAULT_PORT):
    """Werkzeug's threaded WSGI server for `app`; port 0 picks a free port
    (`server.port`). `server.shutdown()` stops it: `serve_forever()` then closes the
    server, which waits for the requests in flight, before it returns."""
    from werkzeug.serving import WSGIRequestHandler
    from werkzeug.serving import make_server as werkzeug_server

    class Handler(WSGIRequestHandler):
        timeout = IDLE_CONNECTION_S

        def log_request(self, *args, **kwargs):  # no access log: TF Serving keeps none
            pass

    try:
        listening = socket.create_server((host, port), backlog=128)
    except OSError as error:
        raise UserInputError(
            f"cannot listen on {host}:{port}: {error.strerror}; choose another --port "
            "(0 picks a free one) or stop the program using it."
        ) from None
    with listening:  # Werkzeug serves a duplicate of this socket
        server = werkzeug_server(
            host, port, app, threaded=True, request_handler=Handler, fd=listening.fileno()
        )
    server.daemon_threads = False  # server_close() joins the requests in flight
    return server


def serve(
    served: ServedSystem,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    max_request_mb: float = DEFAULT_MAX_REQUEST_MB,
    on_ready: Callable[[str], None] = print,
) -> str | None:
    """Answers requests until SIGTERM or SIGINT (Ctrl-C), then finishes those in flight;
    returns the name of the signal that stopped it."""
    server = make_server(create_app(served, max_request_mb=max_request_mb), host, port)
    stopped_by: list[str] = []  # the signal's name, once one came

    def stop(signum, frame):
        if not stopped_by:
            stopped_by.append(signal.Signals(signum).name)
            threading.Thread(target=server.shutdown, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    else:
        previous = {}
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    url = f"http://{host}:{server.port}"
    on_ready(
        f"serving {len(served.tasks)} {'task' if len(served.tasks) == 1 else 'tasks'} at {url} "
        f"(POST {url}/v1/models/TASK:predict); SIGTERM or Ctrl-C stops"
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return stopped_by[0] if stopped_by else None


def _flask():
    try:
        import flask
    except ImportError:
        raise ImportError(
            "`evomt serve` needs Flask: pip install 'keras_evomt[serve]' (or pip install flask)."
        ) from None
    return flask
