"""Every one of the reference's 69 tasks builds its pipelines (under tfds.testing.mock_data)."""

import numpy as np
import pytest

from keras_evomt.data import DATA_HPARAM_DEFAULTS, get_task, list_tasks
from tests.data_helpers import SMALL, mock_tfds

REFERENCE_GROUPS = ["vit", "vtab_full", "vdd", "chars", "vtab_1k"]
REFERENCE_TASKS = [name for group in REFERENCE_GROUPS for name in list_tasks(group)]


@pytest.fixture(scope="module", autouse=True)
def mocked_tfds():
    with mock_tfds(num_examples=4):
        yield


def test_there_are_69_reference_tasks():
    assert len(REFERENCE_TASKS) == 69
    assert len(set(REFERENCE_TASKS)) == 69


# Two tasks in the everyday tier (a VTAB label definition, a plain TFDS set); all 69 in
# the slow one.
EVERYDAY = {"clevr/count_all", "mnist"}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=[] if n in EVERYDAY else pytest.mark.slow) for n in REFERENCE_TASKS],
)
def test_task_yields_batches(name):
    task = get_task(name)
    train = task.train_dataset(DATA_HPARAM_DEFAULTS, image_size=SMALL, batch_size=2, seed=0)
    assert train.element_spec[0].shape.as_list() == [2, SMALL, SMALL, 3]
    images, labels = next(iter(train))
    assert images.dtype.name == "float32" and labels.dtype.name == "int32"
    assert -1.0 <= float(np.min(images)) and float(np.max(images)) <= 1.0
    assert np.all((labels.numpy() >= 0) & (labels.numpy() < task.num_classes))
    batches = list(task.eval_dataset("validation", image_size=SMALL, batch_size=2, max_examples=3))
    assert [len(b[1]) for b in batches] == [2, 1]  # Finite, capped, last batch kept.
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert images.shape == (3, SMALL, SMALL, 3) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0 and labels.dtype == np.int32
    assert np.all((labels >= 0) & (labels < task.num_classes))
    # The test split goes through the same eval pipeline: its raw examples suffice here.
    test_labels = [int(ex["label"]) for ex in task.examples("test").as_numpy_iterator()]
    assert len(test_labels) == 4 and 0 <= min(test_labels) and max(test_labels) < task.num_classes
    assert task.num_train_examples == 4


def test_a_dataset_not_prepared_says_how_to_prepare_it_where_it_was_looked_for(tmp_path):
    import tensorflow_datasets as tfds

    from keras_evomt.data.tfds_source import missing_data_error

    builder = tfds.builder("cifar10", data_dir=str(tmp_path))  # offline: no download
    error = missing_data_error("cifar10", "cifar10", builder)
    where = error.message.rpartition(" is not prepared in ")[2]
    assert where and f"evomt data prepare cifar10 --download --data-dir {where}\n" in error.hint
