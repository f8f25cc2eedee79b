"""The work directory's layout is spelled in one module (`keras_evomt/workdir.py`)."""

import ast
from pathlib import Path as FsPath

import keras_evomt
from keras_evomt.workdir import WorkdirLayout

SOURCE = FsPath(keras_evomt.__file__).parent
FILES = {"config.json", "tasks.json", "state.json", "candidates.jsonl"}
FOLDERS = {"lock", "system", "search", "tb", "reports"}
# Names that are not the work directory's: a keras-hub preset holds its own config.json.
ELSEWHERE = {("components/checkpoints.py", "config.json")}


def _docstrings(tree: ast.Module) -> set[int]:
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef))]
    return {
        id(n.body[0].value)
        for n in nodes
        if n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)
    }


def layout_spellings(file: FsPath) -> list[str]:
    """The layout names a module spells: file names anywhere (docstrings aside), folder
    names where a path is built (`/`, `os.path.join`, `Path(...)`)."""
    tree = ast.parse(file.read_text())
    docstrings, found = _docstrings(tree), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in docstrings:
            text = node.value if isinstance(node.value, str) else ""
            if any(text == n or text.endswith("/" + n) for n in FILES):
                found.append(text)
        parts = []
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            parts = [node.left, node.right]
        elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith(("join", "Path")):
            parts = node.args
        found += [p.value for p in parts if isinstance(p, ast.Constant) and p.value in FOLDERS]
    return found


def test_the_layout_names_appear_only_in_the_layout_module():
    spelled = {}
    for file in sorted(SOURCE.rglob("*.py")):
        where = file.relative_to(SOURCE).as_posix()
        names = [n for n in layout_spellings(file) if (where, n) not in ELSEWHERE]
        if names and where != "workdir.py":
            spelled[where] = names
    assert spelled == {}, f"work directory names spelled outside workdir.py: {spelled}"
    assert set(layout_spellings(SOURCE / "workdir.py")) == FILES | FOLDERS


def test_the_scan_finds_a_spelled_path(tmp_path):
    file = tmp_path / "m.py"
    file.write_text('"""DIR/config.json"""\nimport os\na = os.path.join(d, "tb")\nb = d / "lock"\n')
    assert sorted(layout_spellings(file)) == ["lock", "tb"]
    file.write_text('f = "search/state.json"\n')
    assert layout_spellings(file) == ["search/state.json"]


def test_the_layout_is_where_the_writers_write(tmp_path):
    import ml_collections

    from keras_evomt import store
    from keras_evomt.recipe import pin_config, remembered_task_spec
    from keras_evomt.workdir_lock import WorkdirLock

    layout = WorkdirLayout(str(tmp_path))
    with WorkdirLock(tmp_path):
        pin_config(ml_collections.ConfigDict({"tasks": ["digits"]}), tmp_path)
        with remembered_task_spec(tmp_path, "flowers=dir:/data/flowers"):
            pass
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    assert written == {"lock", "config.json", "tasks.json"}
    assert layout.lock.is_file() and layout.config.is_file() and layout.tasks.is_file()
    assert store.system_dir(tmp_path) == layout.system  # the rest: a run, in test_cli.py


def test_a_task_named_by_its_source_gets_one_tensorboard_folder(tmp_path):
    from keras_evomt.observe import Observer
    from keras_evomt.workdir import tb_run_name

    assert tb_run_name("digits") == "digits"
    assert tb_run_name("kitti/count_vehicles") == "kitti/count_vehicles"
    mine, other = tb_run_name("npz:/data/mine.npz"), tb_run_name("npz:/data/mine_npz")
    assert mine.startswith("npz_data_mine.npz-") and "/" not in mine and ":" not in mine
    assert mine != other  # a readable part alike, the hash apart
    assert "/" not in tb_run_name("../escape") and tb_run_name("../escape") != ".."

    observer = Observer(tmp_path, quiet=True)
    observer.candidate_started(
        "npz:/data/mine.npz", "npz:/data/mine.npz#3", label="mine", step_total=1
    )
    observer.generation_finished("npz:/data/mine.npz", 0, 0.5)
    observer.close()
    layout = WorkdirLayout(tmp_path)
    assert [p.name for p in layout.tb.iterdir()] == [mine]
    assert layout.tb_candidate("npz:/data/mine.npz", "npz:/data/mine.npz#3").parent.name == mine
    assert (layout.tb / mine / f"{mine}_3").is_dir()
    assert layout.tb_candidate("digits", "digits#3") == layout.tb / "digits" / "digits_3"


def test_a_candidate_trained_again_after_a_kill_keeps_only_its_new_curves(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    from keras_evomt.observe import Observer

    def losses():
        run = WorkdirLayout(tmp_path).tb_candidate("digits", "digits#2")
        accumulator = event_accumulator.EventAccumulator(str(run))
        accumulator.Reload()
        return [e.step for e in accumulator.Tensors("train/loss")]

    for attempt in range(2):  # the first attempt is killed after 2 steps
        observer = Observer(tmp_path, quiet=True, log_every_steps=1)
        log = observer.candidate_started(
            "digits", "digits#2", label="digits", step_total=4, training=True
        )
        for step in range(1, 3 + attempt * 2):
            log.step(step, lr=0.1, loss=1.0, accuracy=0.5)
        observer.close()
    assert losses() == [1, 2, 3, 4]
    observer = Observer(tmp_path, quiet=True)  # concluded after a resume: curves kept
    observer.candidate_started("digits", "digits#2", label="digits", step_total=1)
    observer.close()
    assert losses() == [1, 2, 3, 4]
