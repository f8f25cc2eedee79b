"""Recipes load from any folder: their shared part is the package's `recipe_parts`."""

import shutil
import sys
from pathlib import Path as FsPath

import pytest

from keras_evomt.errors import UserInputError
from keras_evomt.recipe import RECIPES_DIR, load_recipe

SPECS = ["baselines.py:finetune_all", "mu2net_69.py", "offline_mini.py"]  # every recipe


def test_every_recipe_is_tried():
    assert sorted(s.partition(":")[0] for s in SPECS) == sorted(
        p.name for p in RECIPES_DIR.glob("*.py")
    )


@pytest.mark.parametrize("spec", SPECS)
def test_a_recipe_copied_outside_the_checkout_loads(spec, tmp_path, monkeypatch):
    name, _, variant = spec.partition(":")
    copy = tmp_path / "elsewhere" / f"my_{name}"
    copy.parent.mkdir()
    shutil.copy(RECIPES_DIR / name, copy)
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    config = load_recipe(f"{copy}:{variant}", ["generations=1"])
    assert config.generations == 1 and config.tasks
    assert sys.path == before  # nothing was inserted to reach a sibling module
    assert "from common" not in copy.read_text()


def test_the_smoke_variant_of_a_copied_recipe_loads_by_absolute_path(tmp_path, monkeypatch):
    copy = FsPath(tmp_path) / "offline_mini.py"
    shutil.copy(RECIPES_DIR / "offline_mini.py", copy)
    monkeypatch.chdir(tmp_path)
    smoke = load_recipe(f"{copy}:smoke")
    main = load_recipe(str(copy))
    assert smoke.steps_per_validation < main.steps_per_validation
    assert smoke.to_dict() == load_recipe("offline_mini:smoke").to_dict()


def test_a_missing_recipe_lists_the_recipes_there_are(tmp_path):
    with pytest.raises(UserInputError, match="offline_mini") as error:
        load_recipe(str(tmp_path / "nope.py"))
    assert "recipe_parts" not in str(error.value)


def test_without_a_recipes_folder_a_missing_recipe_asks_for_a_file(tmp_path, monkeypatch):
    import keras_evomt.recipe

    monkeypatch.setattr(keras_evomt.recipe, "RECIPES_DIR", tmp_path / "site-packages" / "recipes")
    with pytest.raises(UserInputError, match="recipe 'offline_mini' not found") as error:
        load_recipe("offline_mini")
    assert "FILE.py[:variant]" in str(error.value.hint)
    copy = tmp_path / "offline_mini.py"
    shutil.copy(RECIPES_DIR / "offline_mini.py", copy)
    assert load_recipe(f"{copy}:smoke").tasks


def test_offline_mini_size_scale_variants_combine():
    default = load_recipe("offline_mini.py")
    assert (default.score.base_params, default.score.root_shares) == (0.9, True)
    assert "num_layers" not in default.space
    config = load_recipe("offline_mini.py:size_scale_85,layers")
    assert config.score.base_params == 0.85
    assert list(config.space.num_layers) == [1, 2, 3, 4]
    assert load_recipe("offline_mini.py:size_scale_100").score.base_params == 1.0
    with pytest.raises(UserInputError, match="size_scale_90"):
        load_recipe("offline_mini.py:size_scale_50")


def test_the_main_job_and_its_baselines_rank_by_the_same_quality_rule():
    assert load_recipe("offline_mini.py").score.quality == "accuracy_likelihood"
    for variant in ("finetune_all", "independent"):
        assert load_recipe(f"baselines.py:{variant}").score.quality == "accuracy_likelihood"
    assert load_recipe("offline_mini.py:accuracy,size_scale_100").score.quality == "accuracy"
    assert load_recipe("offline_mini.py:likelihood").score.quality == "likelihood"
    assert load_recipe("mu2net_69.py").score.quality == "accuracy"  # the reference's


def test_mu2net_69_size_scale_variants_set_the_base_and_num_layers():
    config = load_recipe("mu2net_69.py:vtab_1k,size_scale_90")
    assert config.score.base_params == 0.9 and list(config.space.num_layers) == list(range(1, 25))
    assert load_recipe("mu2net_69.py").score.base_params == 1.0
    with pytest.raises(UserInputError, match="size_scale_98"):
        load_recipe("mu2net_69.py:size_scale_50")


def test_every_layout_and_the_baselines_train_each_task_as_many_steps():
    from keras_evomt.recipe_parts import steps_per_task

    default = load_recipe("offline_mini.py")
    layouts = {"": (2, 6, 1), ":pairs": (1, 6, 2), ":revisit_pairs": (2, 3, 2)}
    for variant, (visits, generations, candidates) in layouts.items():
        config = load_recipe("offline_mini.py" + variant)
        assert (config.task_iterations, config.generations) == (visits, generations)
        assert config.candidates_per_generation == candidates
        assert steps_per_task(config) == steps_per_task(default) == 1440
    wide_first = ["generations=10", "candidates_per_generation=1", "first_generation_candidates=3"]
    assert steps_per_task(load_recipe("offline_mini.py:pairs", wide_first)) == 1440
    short_first = ["first_generation_candidates=3", "first_generation_validations=1"]
    assert steps_per_task(load_recipe("offline_mini.py", short_first)) == 1440
    baseline = load_recipe("baselines.py:finetune_all")
    assert baseline.task_iterations == 1
    assert steps_per_task(baseline) == steps_per_task(default)
    assert load_recipe("offline_mini.py:smoke").task_iterations == 1
    shuffled = load_recipe("offline_mini.py:shuffle")
    assert shuffled.parents.seed_order == "shuffle" and steps_per_task(shuffled) == 1440
    assert load_recipe("offline_mini.py").parents.seed_order == "probe"
    assert load_recipe("offline_mini.py").parents.probe_estimate == "leave_one_out"
    assert load_recipe("offline_mini.py:holdout").parents.probe_estimate == "holdout"


def test_a_directory_pinned_before_a_key_existed_reads_it_as_the_earlier_behaviour(tmp_path):
    import json

    from keras_evomt.recipe import pin_config, stored_config

    pin_config(load_recipe("offline_mini.py:smoke"), tmp_path)
    file = tmp_path / "config.json"
    older = json.loads(file.read_text())
    del older["score"]["quality"], older["first_generation_candidates"]
    del older["parents"]["seed_order"], older["parents"]["probe_examples"]
    del older["parents"]["probe_estimate"], older["mutation"]["head_init"]
    file.write_text(json.dumps(older))
    assert stored_config(tmp_path).score.quality == "accuracy"
    assert stored_config(tmp_path).parents.seed_order == "shuffle"
    assert stored_config(tmp_path).parents.probe_estimate == "holdout"
    assert stored_config(tmp_path).mutation.head_init == "zeros"
    with pytest.raises(UserInputError, match=r"score.quality \('accuracy' -> 'accuracy_lik"):
        pin_config(load_recipe("offline_mini.py:smoke"), tmp_path)
    resumed = pin_config(load_recipe("offline_mini.py:smoke,accuracy,shuffle,holdout"), tmp_path)
    assert resumed.score.quality == "accuracy" and resumed.first_generation_candidates == 0


def test_list_keys_take_comma_lists_and_single_values():
    config = load_recipe(
        "offline_mini.py:smoke", ["tasks=digits, lfw_faces", "space.image_size=24"]
    )
    assert config.tasks == ["digits", "lfw_faces"] and config.space.image_size == [24]
    assert load_recipe("offline_mini.py", ["tasks=[digits, textures]"]).tasks == [
        "digits",
        "textures",
    ]
    assert load_recipe("offline_mini.py", ["space.opt_lr=[0.1, 0.2]"]).space.opt_lr == [0.1, 0.2]


def test_a_conflicting_config_says_how_many_keys_it_did_not_name(tmp_path):
    from keras_evomt.recipe import pin_config

    pin_config(load_recipe("offline_mini.py:smoke"), tmp_path)
    with pytest.raises(UserInputError, match=r"differing keys: .* and \d+ more\."):
        pin_config(load_recipe("offline_mini.py"), tmp_path)
    with pytest.raises(UserInputError) as refused:
        pin_config(load_recipe("offline_mini.py:smoke", ["tasks=digits"]), tmp_path)
    assert "differing keys: tasks" in refused.value.message
    assert "relative" not in refused.value.hint  # other tasks, not other paths


def test_a_command_that_fails_before_the_search_commits_takes_its_config_back(tmp_path):
    from keras_evomt.recipe import pin_config, pinned

    with pytest.raises(UserInputError, match="unknown root"):
        with pinned(load_recipe("offline_mini.py:smoke", ["root.name=vit_nope"]), tmp_path):
            raise UserInputError("unknown root 'vit_nope'")
    assert not (tmp_path / "config.json").exists()
    (tmp_path / "system").mkdir()  # a system made from Python: its search state stays
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "state.json").write_text("{}")
    with pytest.raises(UserInputError), pinned(load_recipe("offline_mini.py:smoke"), tmp_path):
        raise UserInputError("holds a system grown from another root")
    assert not (tmp_path / "config.json").exists()  # a recipe that did not fit: taken back
    with pytest.raises(RuntimeError), pinned(load_recipe("offline_mini.py:smoke"), tmp_path):
        (tmp_path / "search" / "state.json").write_text('{"position": 1}')  # a commit
        raise RuntimeError("killed later")
    assert (tmp_path / "config.json").exists()  # the search committed: the config stays
    pin_config(load_recipe("offline_mini.py:smoke"), tmp_path)  # and a rerun agrees


def test_a_resumed_run_may_execute_elsewhere_but_not_search_otherwise(tmp_path):
    from keras_evomt.recipe import EXECUTION_KEYS, pin_config

    first = ["distribute.executor=devices", "distribute.cpu_devices=2", "training.threads=1"]
    pin_config(load_recipe("offline_mini.py:smoke", first), tmp_path)
    moved = ["distribute.executor=ray", "data.data_dir=/data/moved"]
    resumed = pin_config(load_recipe("offline_mini.py:smoke", moved), tmp_path)
    assert (resumed.distribute.executor, resumed.distribute.cpu_devices) == ("ray", 0)
    assert (resumed.data.data_dir, resumed.training.threads) == ("/data/moved", 0)
    with pytest.raises(UserInputError, match=r"differing keys: batch_size \(32 -> 16\)\."):
        pin_config(load_recipe("offline_mini.py:smoke", [*moved, "batch_size=16"]), tmp_path)
    config = load_recipe("offline_mini.py")
    for key in EXECUTION_KEYS:  # every one names a key of the config
        parent, _, leaf = key.rpartition(".")
        assert leaf in (config[parent] if parent else config), key


def test_a_recipe_s_relative_data_paths_are_pinned_absolute(tmp_path, monkeypatch):
    import json

    from keras_evomt.recipe import pin_config, stored_config, task_specs

    tasks = ["tasks=digits, flat=dir:data/flat, npz:data/x.npz"]
    (tmp_path / "first").mkdir()
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "first")
    pinned = pin_config(load_recipe("offline_mini.py:smoke", tasks), tmp_path / "run")
    where = tmp_path / "first" / "data"
    absolute = ["digits", f"flat=dir:{where}/flat", f"npz:{where}/x.npz"]
    assert list(pinned.tasks) == absolute
    assert json.loads((tmp_path / "run" / "config.json").read_text())["tasks"] == absolute
    pin_config(load_recipe("offline_mini.py:smoke", tasks), tmp_path / "run")  # same folder
    monkeypatch.chdir(tmp_path / "other")
    assert list(stored_config(tmp_path / "run").tasks) == absolute  # not read from here
    assert task_specs(tmp_path / "run") == absolute
    with pytest.raises(UserInputError, match="tasks .*other/data/flat") as refused:
        pin_config(load_recipe("offline_mini.py:smoke", tasks), tmp_path / "run")
    assert "run it from the first run's folder" in refused.value.hint
    resumed = pin_config(
        load_recipe("offline_mini.py:smoke", [f"tasks={','.join(absolute)}"]), tmp_path / "run"
    )
    assert list(resumed.tasks) == absolute


def test_a_relative_path_pinned_by_an_earlier_version_reads_from_the_current_folder(
    tmp_path, monkeypatch
):
    import json

    from keras_evomt.recipe import pin_config

    monkeypatch.chdir(tmp_path)
    config = load_recipe("offline_mini.py:smoke", ["tasks=digits, dir:data/flat"])
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(config.to_json_best_effort())  # relative
    resumed = pin_config(config, tmp_path / "run")  # as before: its own folder agrees
    assert list(resumed.tasks) == ["digits", f"dir:{tmp_path}/data/flat"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["tasks"][1] == "dir:data/flat"


@pytest.mark.parametrize(
    "body, where, error",
    [
        ("    config.taskz = ['digits']\n", "line 5: config.taskz", "AttributeError: "),
        ("    return missing_name\n", "line 5: return missing_name", "NameError: "),
        ("    config.tasks = ['digits'\n", "failed\n", "SyntaxError: '[' was never closed"),
    ],
)
def test_a_recipe_that_fails_is_named_with_its_line(tmp_path, body, where, error):
    recipe = tmp_path / "mine.py"
    recipe.write_text(
        "from keras_evomt.recipe_parts import offline_main_job\n\n"
        "def get_config(variant=None):\n    config = offline_main_job()\n" + body
    )
    with pytest.raises(UserInputError) as caught:
        load_recipe(str(recipe))
    message = str(caught.value)
    assert message.startswith(f"recipe {recipe} failed") and where in message
    assert error in message and "fix the recipe" in message


def test_a_pinned_task_takes_its_moved_data_and_a_failed_command_puts_the_pin_back(
    tmp_path, caplog
):
    import json

    from keras_evomt.data.catalog import moved_data
    from keras_evomt.recipe import pin_config, pinned

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.npz").write_bytes(b"arrays")

    def config(place: str):
        return load_recipe("offline_mini.py:smoke", [f"tasks=mine=npz:{tmp_path}/{place}/x.npz"])

    def pinned_tasks():
        return json.loads((tmp_path / "run" / "config.json").read_text())["tasks"]

    pin_config(config("a"), tmp_path / "run")
    (tmp_path / "a").rename(tmp_path / "b")
    with pytest.raises(RuntimeError), pinned(config("b"), tmp_path / "run"):
        assert pinned_tasks() == [f"mine=npz:{tmp_path}/b/x.npz"]
        raise RuntimeError("failed before the search committed anything")
    assert pinned_tasks() == [f"mine=npz:{tmp_path}/a/x.npz"]
    assert list(pin_config(config("b"), tmp_path / "run").tasks) == pinned_tasks()
    assert pinned_tasks() == [f"mine=npz:{tmp_path}/b/x.npz"]
    assert f"now reads its data from npz:{tmp_path}/b/x.npz ({tmp_path}/a/x.npz no" in caplog.text
    with pytest.raises(UserInputError, match="differing keys: tasks"):
        pin_config(config("c"), tmp_path / "run")  # no data there: not a move
    b, c = f"mine=npz:{tmp_path}/b/x.npz", f"mine=npz:{tmp_path}/c/x.npz"
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x.npz").write_bytes(b"arrays")
    assert not moved_data(b, c)  # both there: other data under the same name
    (tmp_path / "b" / "x.npz").unlink()
    assert moved_data(b, c) and not moved_data(b, c.replace("npz:", "dir:"))
    assert not moved_data(b.removeprefix("mine="), c.removeprefix("mine="))  # named by path

    def unnamed(place: str):
        return load_recipe("offline_mini.py:smoke", [f"tasks=npz:{tmp_path}/{place}/x.npz"])

    pin_config(unnamed("c"), tmp_path / "unnamed")
    (tmp_path / "c").rename(tmp_path / "d")
    with pytest.raises(UserInputError, match="differing keys: tasks") as refused:
        pin_config(unnamed("d"), tmp_path / "unnamed")
    assert f"An unnamed task is named by its path (npz:{tmp_path}/c/x.npz), so its data " in (
        refused.value.hint
    )


def test_a_private_task_whose_data_moved_stays_private(tmp_path, caplog):
    import json

    from keras_evomt.recipe import pin_config, remembered_task_spec, resolved_task_spec

    for place in ("a", "b"):
        (tmp_path / place).mkdir()
        (tmp_path / place / "x.npz").write_bytes(b"arrays")
    old = f"private:mine=npz:{tmp_path}/a/x.npz"
    pin_config(load_recipe("offline_mini.py:smoke", [f"tasks=digits,{old}"]), tmp_path / "run")
    (tmp_path / "a" / "x.npz").unlink()
    spec = resolved_task_spec(tmp_path / "run", f"mine=npz:{tmp_path}/b/x.npz")
    assert spec == f"private:mine=npz:{tmp_path}/b/x.npz"
    with remembered_task_spec(tmp_path / "run", spec):
        pass
    pinned = json.loads((tmp_path / "run" / "config.json").read_text())["tasks"]
    assert pinned == ["digits", spec]
    assert not (tmp_path / "run" / "tasks.json").exists()
    assert f"from npz:{tmp_path}/b/x.npz ({tmp_path}/a/x.npz no longer exists)" in caplog.text
