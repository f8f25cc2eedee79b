import numpy as np
import pytest

from keras_evomt.errors import UserInputError
from keras_evomt.path import ROOT, Path
from tests.helpers import digits, tiny_system, train, weights_of


def _task_b_from(system, path_a):
    """B shares A's lower block frozen, clones the top block, own norm and head."""
    ids = list(path_a.components)
    top = ids.index(next(c for c in reversed(ids) if c.startswith("encoderblock_")))
    ids[top] = system.clone(ids[top])
    ids[-2] = system.clone(ids[-2])
    ids[-1] = system.new_head(10, (None, 17, 16))
    return Path(task="b", components=ids, hparams=dict(path_a.hparams), parent=path_a.id, id="b#1")


def test_no_forgetting_is_bit_exact():
    x, y = digits(128)
    system = tiny_system()
    system.start_task("a")
    path_a = system.new_task_path("a", num_classes=10)
    path_a.id = "a#0"
    # A may train only its own norm and head: the root is locked.
    assert set(system.trainable_ids(path_a)) == set(path_a.components[-2:])
    train(system, path_a, x, y)
    system.end_task(path_a)
    before, predictions = weights_of(system, path_a), system.model("a")(x[:16]).numpy()
    fingerprint = system.fingerprint("a")

    system.start_task("b")
    path_b = _task_b_from(system, path_a)
    own_b = set(path_b.components) - set(path_a.components)
    model = system.model(path_b)
    expected = {id(v) for c in own_b for v in system.components[c].trainable_variables}
    assert {id(v) for v in model.trainable_variables} == expected
    b_before = weights_of(system, path_b)
    train(system, path_b, x, (y + 1) % 10)
    system.end_task(path_b)

    for old, new in zip(before, weights_of(system, path_a)):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(system.model("a")(x[:16]).numpy(), predictions)
    assert system.fingerprint("a") == fingerprint
    changed = [not np.array_equal(o, n) for o, n in zip(b_before, weights_of(system, path_b))]
    assert any(changed), "B's own weights should have trained"


def test_frozen_components_were_built_before_freezing():
    """The pitfall: freezing before build leaves lazily built MHA sublayers trainable."""
    system = tiny_system()
    system.start_task("a")
    path = system.new_task_path("a", 10)
    assert all(c.built for c in system.components.values())
    system.model(path)(digits(4)[0])  # a call must not create (trainable) state either
    for cid, component in system.components.items():
        frozen = not system.is_trainable(cid)
        assert component.trainable is not frozen
        if frozen:
            assert component.trainable_weights == [], cid
            assert len(component.non_trainable_weights) == len(component.weights) > 0


def test_locks_follow_tasks_and_are_lifted_on_revisit():
    system = tiny_system()
    system.start_task("a")
    path_a = system.new_task_path("a", 10)
    own = path_a.components[-2:]
    assert all(system.is_trainable(c) for c in own)
    assert not any(system.is_trainable(c) for c in system.root.components)
    system.end_task(path_a)
    assert not any(system.is_trainable(c, "a") for c in own)
    assert system.users(own[0]) == {"a"}
    system.start_task("b")
    assert not any(system.is_trainable(c) for c in own)  # locked by a
    with pytest.raises(UserInputError, match="still active"):
        system.start_task("c")
    system.end_task(system.new_task_path("b", 3))
    system.start_task("a")
    assert all(system.is_trainable(c) for c in own)  # a's own lock is lifted


def test_clone_copies_weights_and_slots_into_a_new_id():
    system = tiny_system()
    cid = system.root.components[3]
    system.slots[cid] = [
        np.full(w.shape, 0.5, "float32") for w in system.components[cid].get_weights()
    ]
    copy = system.clone(cid)
    assert copy != cid and copy.startswith("encoderblock_0.")
    for a, b in zip(system.components[cid].get_weights(), system.components[copy].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert np.all(system.slots[copy][0] == 0.5)
    system.slots[copy][0][...] = 1.0
    assert np.all(system.slots[cid][0] == 0.5)  # slots are copies, not views
    assert system.components[copy] is not system.components[cid]


def test_parameter_figures_and_garbage_collection():
    system = tiny_system()
    root_params = sum(system.params(c) for c in system.root.components)
    system.start_task("a")
    path_a = system.new_task_path("a", 10)
    system.end_task(path_a)
    head, norm = (system.params(c) for c in path_a.components[:-3:-1])
    assert system.own_params(path_a) == head + norm
    shared = root_params - system.params(system.root.components[-1])
    assert system.accounted_params(path_a) == shared + head + norm  # the root is no sharer
    assert system.accounted_params(path_a, root_shares=True) == shared / 2 + head + norm
    system.start_task("b")
    path_b = system.new_task_path("b", 10)
    assert system.accounted_params(path_b) == shared / 2 + head + norm
    orphan = system.clone(path_b.components[3])
    dropped = system.end_task(path_b)
    assert orphan in dropped and orphan not in system.components
    assert system.total_params() == root_params + 2 * (head + norm)
    assert system.flops(path_a) == sum(
        system.components[c].flops(s)
        for c, s in zip(path_a.components, system.input_shapes(path_a.components, 32))
    )
    assert system.path(ROOT) is system.root
    with pytest.raises(UserInputError, match="no task 'c'"):
        system.model("c")


def test_a_system_shows_its_tasks_root_and_size():
    system = tiny_system()
    assert repr(system) == f"<System: 0 tasks; root vit_tiny, {system.total_params():,} parameters>"
    for task in "abcdefg":
        system.start_task(task)
        system.end_task(system.new_task_path(task, 3))
    assert repr(system).startswith("<System: 7 tasks: a, b, c, d, e and 2 more; root vit_tiny, ")
