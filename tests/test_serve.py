"""`evomt serve`: TF Serving's REST API over the resident system (loopback only)."""

import concurrent.futures
import io
import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from keras_evomt.data.pipeline import eval_image
from keras_evomt.errors import UserInputError
from keras_evomt.serve import ServedSystem, create_app, make_server
from tests.helpers import SEVERAL_TASKS, child_env, digits, several_tasks_system

TASKS = list(SEVERAL_TASKS)
DSPRITES = "dsprites/label_x_position"


@pytest.fixture(scope="module")
def system():
    system = several_tasks_system()
    system.set_class_names("c", list("vwxyz"))  # c's data named its 5 classes
    return system


@pytest.fixture(scope="module")
def served(system):
    return ServedSystem(system)


@pytest.fixture(scope="module")
def client(served):
    return create_app(served, max_request_mb=1).test_client()


@pytest.fixture(scope="module")
def images():
    return digits(4)[0]


def png_bytes(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def test_status_metadata_and_the_task_list(client, served):
    response = client.get("/v1/models/a")
    assert response.status_code == 200
    assert response.json["model_version_status"][0]["state"] == "AVAILABLE"
    for name in (DSPRITES, "dsprites_label_x_position"):
        metadata = client.get(f"/v1/models/{name}/metadata").json["metadata"]["contract"]
        assert metadata["task"] == DSPRITES and metadata["input"]["image_size"] == 32
        assert metadata["output"]["num_classes"] == 7
    signature = client.get(f"/v1/models/{DSPRITES}/metadata").json["metadata"]["signature_def"]
    default = signature["signature_def"]["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    dims = [d["size"] for d in default["inputs"]["images"]["tensor_shape"]["dim"]]
    assert dims == ["-1", "32", "32", "3"] and default["inputs"]["images"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in default["outputs"]["logits"]["tensor_shape"]["dim"]] == ["-1", "7"]
    listed = client.get("/v1/tasks").json["tasks"]
    assert [t["task"] for t in listed] == TASKS
    assert listed[1]["key"] == "dsprites_label_x_position"


def test_predict_answers_as_tf_serving_does(client, system, images):
    expected = system.model(DSPRITES)(images).numpy()
    rows = client.post(f"/v1/models/{DSPRITES}:predict", json={"instances": images.tolist()})
    assert rows.status_code == 200
    np.testing.assert_allclose(rows.json["predictions"], expected, atol=1e-5, rtol=0)
    named = [{"images": x} for x in images.tolist()]
    by_key = client.post("/v1/models/dsprites_label_x_position:predict", json={"instances": named})
    np.testing.assert_allclose(by_key.json["predictions"], expected, atol=1e-5, rtol=0)
    columns = client.post("/v1/models/a:predict", json={"inputs": {"images": images.tolist()}})
    np.testing.assert_allclose(
        columns.json["outputs"], system.model("a")(images).numpy(), atol=1e-5, rtol=0
    )


def test_several_tasks_in_one_request_equal_their_own_requests(client, system, images):
    response = client.post("/v1/tasks:predict", json={"tasks": TASKS, "instances": images.tolist()})
    assert response.status_code == 200
    rows = response.json["predictions"]
    assert len(rows) == 4 and all(list(row) == TASKS for row in rows)
    for task in TASKS:
        expected = system.model(task)(images).numpy()
        np.testing.assert_allclose([row[task] for row in rows], expected, atol=1e-5, rtol=0)
    columns = client.post("/v1/tasks:predict", json={"tasks": ["c"], "inputs": images.tolist()})
    np.testing.assert_allclose(
        columns.json["outputs"]["c"], system.model("c")(images).numpy(), atol=1e-5, rtol=0
    )


def test_image_bytes_get_the_tasks_own_preprocessing(client, system):
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (50, 40, 3), dtype=np.uint8)
    prepared = eval_image(picture, 32, (0.0, 255.0)).numpy()[None]  # the data pipeline's way
    expected = system.model("c")(prepared).numpy()
    response = client.post("/v1/models/c:predict_image", data=png_bytes(picture))
    assert response.status_code == 200, response.json
    np.testing.assert_allclose(response.json["predictions"], expected, atol=1e-5, rtol=0)
    assert response.json["classes"] == expected.argmax(-1).tolist()
    assert response.json["class_names"] == ["vwxyz"[c] for c in response.json["classes"]]
    unnamed = client.post("/v1/models/a:predict_image", data=png_bytes(picture)).json
    assert "classes" in unnamed and "class_names" not in unnamed
    as_curl_sends_it = client.post(
        "/v1/models/c:predict_image",
        data=png_bytes(picture),
        content_type="application/x-www-form-urlencoded",
    )
    assert as_curl_sends_it.json == response.json
    as_a_form = client.post(
        "/v1/models/c:predict_image", data={"image": (io.BytesIO(png_bytes(picture)), "a.png")}
    )
    assert as_a_form.json == response.json
    gray = png_bytes(picture[..., 0])  # gray PNG: tiled to RGB
    assert client.post("/v1/models/c:predict_image", data=gray).status_code == 200
    deep = png_bytes(picture[..., 0].astype(np.uint16) * 257)  # 16 bits: as folders read it
    np.testing.assert_allclose(
        client.post("/v1/models/c:predict_image", data=deep).json["predictions"],
        client.post("/v1/models/c:predict_image", data=gray).json["predictions"],
        atol=1e-5,
        rtol=0,
    )
    jpeg = client.post(
        f"/v1/tasks:predict_image?task=a&task={DSPRITES}", data=png_bytes(picture, "JPEG")
    )
    assert jpeg.status_code == 200 and list(jpeg.json["predictions"][0]) == ["a", DSPRITES]
    several = client.post("/v1/tasks:predict_image?task=c&task=a", data=png_bytes(picture)).json
    assert [list(row) for row in several["predictions"]] == [["c", "a"]]
    np.testing.assert_allclose(several["predictions"][0]["c"], expected[0], atol=1e-5, rtol=0)
    assert several["classes"] == [{"c": response.json["classes"][0], "a": unnamed["classes"][0]}]
    assert several["class_names"] == [{"c": response.json["class_names"][0]}]  # a: unnamed
    assert "class_names" not in jpeg.json


BAD_REQUESTS = [
    ("/v1/models/a:predict", b"{not json", 400, "JSON Parse error"),
    ("/v1/models/a:predict", b"[1, 2]", 400, "JSON object"),
    ("/v1/models/a:predict", b'{"instances": [], "inputs": []}', 400, "Missing 'inputs'"),
    ("/v1/models/a:predict", b'{"instances": [[1, 2], [3]]}', 400, "nested lists of numbers"),
    ("/v1/models/a:predict", b'{"instances": [[[[0.5]]]]}', 400, "shape [32, 32, 3]"),
    ("/v1/models/a:predict", b'{"instances": []}', 400, "Received: shape [0]"),
    ("/v1/models/a:predict", b'{"instances": [{"pixels": 1}]}', 400, "only input is 'images'"),
    ("/v1/models/a:predict", b'{"inputs": "abc"}', 400, "nested lists of numbers"),
    ("/v1/models/zz:predict", b'{"instances": []}', 404, "Servable not found"),
    ("/v1/models/a:classify", b"{}", 404, ":predict"),
    ("/v1/models/a:predict_image", b"not an image", 400, "PNG or JPEG"),
    ("/v1/models/a:predict_image", b"", 400, "body is empty"),
    ("/v1/models/a:predict_image", b'{"instances": []}', 400, "JSON bodies go to :predict"),
    ("/v1/tasks:predict_image", b"not an image", 400, "the URL must name the tasks as ?task"),
    ("/v1/tasks:predict", b'{"tasks": [], "instances": []}', 400, "'tasks' must be"),
    ("/v1/tasks:predict", b'{"tasks": ["a", "b"], "instances": []}', 404, "Latest(b)"),
    ("/v1/models/a:predict", b"[" + b"0," * 600_000 + b"0]", 413, "Too Large"),
    ("/v1/models/a:predict", b"[" + b"0," * 600_000 + b"0]", 413, "limit of 1 MB"),
    ("/v1/models/a:predict", b"[" + b"0," * 600_000 + b"0]", 413, "larger --max-request-mb"),
    ("/v1/models/a:predict", b'{"signature_name": "classify", "instances": []}', 400, "'classify'"),
]


@pytest.mark.parametrize(
    "url, body, status, message", BAD_REQUESTS, ids=[m for *_, m in BAD_REQUESTS]
)
def test_bad_requests_get_json_errors(client, url, body, status, message):
    response = client.post(url, data=body, content_type="application/json")
    assert response.status_code == status
    assert message in response.json["error"]


def test_images_outside_the_models_range_and_gets_of_predict_are_refused(client, images):
    body = {"instances": (images[:1] * 255).tolist()}
    response = client.post("/v1/models/a:predict", json=body)
    assert response.status_code == 400 and "scaled to [-1, 1]" in response.json["error"]
    response = client.get("/v1/models/a:predict")
    assert response.status_code == 405 and "takes POST requests" in response.json["error"]


def test_tf_servings_versioned_urls_name_the_one_version(client, images):
    body = {"instances": images[:1].tolist()}
    plain = client.post("/v1/models/a:predict", json=body).json
    assert client.post("/v1/models/a/versions/1:predict", json=body).json == plain
    assert client.get("/v1/models/a/versions/1").status_code == 200
    assert client.get("/v1/models/a/versions/1/metadata").json["model_spec"]["name"] == "a"
    response = client.post("/v1/models/a/versions/2:predict", json=body)
    assert response.status_code == 404 and "Specific(a, 2)" in response.json["error"]


def test_unknown_tasks_are_404_with_a_hint(client):
    response = client.get("/v1/models/aa")
    assert response.status_code == 404 and "did you mean: a" in response.json["error"]
    assert client.get("/v1/models/zz/metadata").status_code == 404


def test_a_burst_of_concurrent_requests_over_loopback(served, system, images):
    server = make_server(create_app(served), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.port}/v1/models/%s:predict"

    def predict(i):
        task = TASKS[i % 3]
        body = json.dumps({"instances": images[i % 4 : i % 4 + 1].tolist()}).encode()
        request = urllib.request.Request(url % task, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return task, i % 4, json.loads(response.read())["predictions"]

    try:
        expected = {t: system.model(t)(images).numpy() for t in TASKS}
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(predict, range(48), timeout=120))
        for task, index, predictions in results:
            np.testing.assert_allclose(predictions[0], expected[task][index], atol=1e-5, rtol=0)
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(url % "zz", b"{}", timeout=60)
        assert error.value.code == 404 and "Servable" in json.loads(error.value.read())["error"]
        assert len(predict(0)[2]) == 1  # still answering after the burst and the error
        with pytest.raises(UserInputError, match="cannot listen on 127.0.0.1:.*another --port"):
            make_server(create_app(served), "127.0.0.1", server.port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(30)
    assert not thread.is_alive()


@pytest.mark.slow
def test_evomt_serve_answers_then_stops_cleanly_on_sigterm(system, tmp_path, images):
    system.save(tmp_path)
    env = child_env(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "keras_evomt.cli",
            "serve",
            "--workdir",
            tmp_path,
            "--port",
            "0",
            "--tasks",
            "a,c",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline, port = time.monotonic() + 120, None
        while port is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            assert line or process.poll() is None, "evomt serve exited early"
            match = re.search(r"serving 2 tasks at http://127\.0\.0\.1:(\d+)", line)
            port = match and int(match.group(1))
        assert port, "evomt serve did not say where it listens"
        body = json.dumps({"instances": images[:1].tolist()}).encode()
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/v1/models/c:predict", body, timeout=60
        ) as response:
            predictions = json.loads(response.read())["predictions"]
        np.testing.assert_allclose(
            predictions, system.model("c")(images[:1]).numpy(), atol=1e-5, rtol=0
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert "stopped by SIGTERM: the requests in flight were answered" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_without_flask_the_error_says_what_to_install(served, monkeypatch):
    monkeypatch.setitem(sys.modules, "flask", None)  # import flask now fails
    with pytest.raises(ImportError, match=r"pip install 'keras_evomt\[serve\]'"):
        create_app(served)


def test_stopping_lets_the_requests_in_flight_finish(served, images, monkeypatch):
    started, finished = threading.Event(), threading.Event()
    predict = served.predict

    def slow_predict(*args):
        started.set()
        time.sleep(1.0)
        outputs = predict(*args)
        finished.set()
        return outputs

    monkeypatch.setattr(served, "predict", slow_predict)
    server = make_server(create_app(served), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    body = json.dumps({"instances": images[:1].tolist()}).encode()
    url = f"http://127.0.0.1:{server.port}/v1/models/a:predict"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        reply = pool.submit(lambda: urllib.request.urlopen(url, body, timeout=60).read())
        assert started.wait(60)
        server.shutdown()  # what SIGTERM does: stop accepting ...
        thread.join(60)  # serve_forever closes the server: it waits for those in flight
        assert finished.is_set()
        assert len(json.loads(reply.result(timeout=60))["predictions"]) == 1
    thread.join(30)
