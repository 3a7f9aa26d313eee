"""The YAML loader: what a valid file becomes, and errors that name file, line and key path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tandem.config import load_workflow, loads_workflow
from tandem.errors import InfeasibleRequest, SpecError
from tandem.spec.task import Executable, FunctionCall, Mock
from tandem.spec.workflow import Workflow

GOOD = """\
name: demo
mode: barrier
time_scale: 0.5
platform:
  nodes: 2
  cores_per_node: 8
  gpus_per_node: 2
task_sets:
  - name: sim
    count: 4
    kind: simulation
    cores: 2
    gpus: 1
    duration: 10
  - name: agg
    cores: 4
    duration: {mean: 3, sd: 0.5}
    depends_on: sim
  - name: train
    gpus: 1
    cores: 1
    duration: {distribution: lognormal, mean: 5, sd: 1}
    depends_on: [agg]
    priority: 2
  - name: infer
    count: 2
    duration: {distribution: empirical, samples: [1, 2, 3]}
    depends_on: [train]
    async_depends_on: [sim]
  - name: shell
    command: ["sleep", "0"]
    depends_on: [infer]
  - name: call
    function: "os.path:join"
    args: [a, b]
    duration: 1
    jitter: 0.25
"""


def load(text: str, filename: str = "wf.yaml") -> Workflow:
    return loads_workflow(textwrap.dedent(text), filename=filename)


def error(text: str, filename: str = "wf.yaml") -> str:
    with pytest.raises(SpecError) as info:
        load(text, filename)
    return str(info.value)


def edit(old: str, new: str, text: str = GOOD) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_a_valid_file_becomes_a_workflow() -> None:
    wf = load(GOOD)
    assert (wf.name, wf.mode, wf.time_scale) == ("demo", "barrier", 0.5)
    assert wf.platform.total_cores == 16 and wf.platform.total_gpus == 4
    sets = {s.name: s for s in wf.task_sets}
    sim = sets["sim"]
    assert (sim.count, sim.kind, sim.resources.cores, sim.resources.gpus) == (4, "simulation", 2, 1)
    assert sim.work is None and sim.duration is not None
    assert (sim.duration.mean, sim.duration.distribution) == (10, "fixed")
    assert sets["agg"].depends_on == ("sim",)             # a single name is a list of one
    agg = sets["agg"].duration
    assert agg is not None and (agg.mean, agg.sd, agg.distribution) == (3, 0.5, "normal")
    train = sets["train"]
    assert train.priority == 2 and train.duration is not None
    assert train.duration.distribution == "lognormal"
    infer = sets["infer"]
    assert infer.duration is not None and infer.duration.samples == (1.0, 2.0, 3.0)
    assert infer.duration.mean == 2.0
    assert infer.deps("async") == ("sim",) and infer.deps("barrier") == ("train",)
    shell = sets["shell"]
    assert isinstance(shell.work, Executable) and shell.work.argv == ("sleep", "0")
    assert shell.duration is None and shell.resources.cores == 1
    call = sets["call"]
    assert isinstance(call.work, FunctionCall) and call.work.args == ("a", "b")
    assert call.work.fn("x", "y") == "x/y"
    assert call.duration is not None and call.duration.sd == 0.25
    tasks = wf.expand()
    assert isinstance(tasks[0].spec.work, Mock) and tasks[0].duration == 5.0   # scaled


def test_defaults_name_from_the_file_and_platform_local(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text("task_sets:\n  - {name: a, duration: 1}\n")
    wf = load_workflow(path)
    assert wf.name == "tiny" and wf.mode == "async" and wf.time_scale == 1.0
    assert wf.platform.name == "local"


def test_local_platform_with_virtual_gpus() -> None:
    wf = load("platform: {local: true, virtual_gpus: 2}\ntask_sets: [{name: a, duration: 1}]\n")
    node = wf.platform.nodes[0]
    if node.virtual_gpus:
        assert node.gpus == ("0", "1")


# -- every class of bad input: file, line and key path in the message -----------------------

def test_yaml_syntax_error() -> None:
    msg = error(edit("cores: 4\n", "cores: [4\n"), filename="dg2.yaml")
    assert msg.startswith("dg2.yaml:17: YAML syntax error:"), msg


def test_unknown_key_suggests_the_close_one() -> None:
    msg = error(edit("    cores: 4\n", "    cors: 4\n"))
    assert msg.startswith('wf.yaml:16: task_sets[1].cors: unknown key "cors" '
                          '(did you mean "cores"?)'), msg
    msg = error(edit("platform:\n", "platfrom:\n"))
    assert msg.startswith('wf.yaml:4: platfrom: unknown key "platfrom" (did you mean '
                          '"platform"?)'), msg


def test_wrong_type() -> None:
    msg = error(edit("    cores: 4\n", '    cores: "many"\n'), filename="dg2.yaml")
    assert msg == 'dg2.yaml:16: task_sets[1].cores: expected an integer >= 0, got "many"'
    msg = error(edit("count: 4", "count: 4.0"))
    assert msg == "wf.yaml:10: task_sets[0].count: expected an integer >= 1, got 4.0"
    msg = error(edit('["sleep", "0"]', '"sleep 0"'))
    assert msg.startswith('wf.yaml:31: task_sets[4].command: expected a non-empty list of '
                          'strings'), msg
    msg = error(edit("duration: 10", 'duration: "10s"'))
    assert msg.startswith('wf.yaml:14: task_sets[0].duration: expected a number of seconds'), msg


def test_negative_values() -> None:
    msg = error(edit("count: 4", "count: -4"))
    assert msg == "wf.yaml:10: task_sets[0].count: expected an integer >= 1, got -4"
    msg = error(edit("duration: 10", "duration: -10"))
    assert msg == "wf.yaml:14: task_sets[0].duration: expected a number of seconds >= 0, got -10"
    msg = error(edit("sd: 0.5", "sd: -0.5"))
    assert msg.startswith("wf.yaml:17: task_sets[1].duration.sd: expected a number of seconds"
                          " >= 0, got -0.5"), msg
    msg = error(edit("time_scale: 0.5", "time_scale: 0"))
    assert msg == "wf.yaml:3: time_scale: expected a number > 0, got 0"


def test_unknown_dependency() -> None:
    msg = error(edit("depends_on: [agg]", "depends_on: [agx]"))
    assert msg.startswith('wf.yaml:23: task_sets[2].depends_on[0]: unknown task set "agx" '
                          '(did you mean "agg"?)'), msg
    msg = error(edit("async_depends_on: [sim]", "async_depends_on: [nope]"))
    assert msg.startswith('wf.yaml:29: task_sets[3].async_depends_on[0]: unknown task set '
                          '"nope"'), msg


def test_dependency_cycle() -> None:
    text = edit("    duration: 10\n", "    duration: 10\n    depends_on: [train]\n")
    msg = error(text)
    assert msg.startswith("wf.yaml:19: task_sets[1].depends_on[0]: dependency cycle: "
                          "sim -> train -> agg -> sim"), msg
    msg = error(edit("async_depends_on: [sim]", "async_depends_on: [infer]"))
    assert msg.startswith("wf.yaml:29: task_sets[3].async_depends_on[0]: task set "
                          '"infer" depends on itself'), msg
    text = edit("    depends_on: [agg]\n", "    depends_on: [agg]\n    async_depends_on: [infer]\n",
                edit("async_depends_on: [sim]", "async_depends_on: [train]"))
    msg = error(text)
    assert msg == ("wf.yaml:30: task_sets[3].async_depends_on[0]: dependency cycle in async "
                   "mode: train -> infer -> train (each waits for the next)")


def test_infeasible_request() -> None:
    with pytest.raises(InfeasibleRequest) as info:
        load(edit("    cores: 4\n", "    cores: 12\n"))
    msg = str(info.value)
    assert msg.startswith("wf.yaml:16: task_sets[1].cores: task 'agg': request for 12 cores "
                          "can never fit"), msg
    msg = error(edit("    gpus: 1\n    cores: 1\n", "    gpus: 3\n    cores: 1\n"))
    assert msg.startswith("wf.yaml:20: task_sets[2].gpus: task 'train':"), msg
    # A request of nothing is legal for one rank (a light task), not for several.
    assert load(edit("    cores: 4\n", "    cores: 0\n")).task_sets[1].resources.cores == 0
    msg = error(edit("    cores: 4\n", "    cores: 0\n    ranks: 2\n"))
    assert msg.startswith("wf.yaml:16: task_sets[1].cores: a task of 2 ranks must ask "
                          "for at least one core or one GPU per rank"), msg


def test_mode_typo() -> None:
    msg = error(edit("mode: barrier", "mode: barier"), filename="dg2.yaml")
    assert msg == ('dg2.yaml:2: mode: expected async or barrier, got "barier" '
                   '(did you mean "barrier"?)')
    msg = error(edit("duration: {distribution: lognormal", "duration: {distribution: lognorm"))
    assert msg.startswith("wf.yaml:22: task_sets[2].duration.distribution: expected fixed or "
                          'normal or lognormal or empirical, got "lognorm" (did you mean '
                          '"lognormal"?)'), msg


def test_missing_keys_and_rules_across_keys() -> None:
    msg = error(edit("  - name: agg\n", "  - kind: agg\n"))
    assert msg == 'wf.yaml:15: task_sets[1]: missing required key "name"'
    msg = error(edit("    duration: 10\n", ""))
    assert msg == ("wf.yaml:9: task_sets[0]: a mock task set (no command or function) needs "
                   "a duration")
    msg = error(edit("  nodes: 2\n", ""))
    assert msg.startswith('wf.yaml:4: platform: missing required key "nodes"'), msg
    msg = error(edit("  nodes: 2\n", "  nodes: 2\n  local: true\n"))
    assert msg.startswith("wf.yaml:5: platform.nodes: give either local: true or uniform"), msg
    msg = error(edit('    function: "os.path:join"\n',
                     '    function: "os.path:join"\n    command: [ls]\n'))
    assert msg.startswith("wf.yaml:34: task_sets[5].function: give either command or "
                          "function"), msg
    msg = error(edit('"os.path:join"', '"os.path:nope"'))
    assert msg == 'wf.yaml:34: task_sets[5].function: "os.path" has no attribute "nope"'
    msg = error(edit('"os.path:join"', '"no_such_module_x:f"'))
    assert msg.startswith('wf.yaml:34: task_sets[5].function: cannot import '
                          '"no_such_module_x"'), msg
    msg = error(edit("    jitter: 0.25\n", "    jitter: 0.25\n    kwargs: {}\n",
                     edit("duration: 1\n", "duration: {mean: 1, sd: 1}\n")))
    assert msg.startswith("wf.yaml:37: task_sets[5].jitter: jitter is a shorthand"), msg
    msg = error(edit("  - name: agg\n", "  - name: sim\n"))
    assert msg == ('wf.yaml:15: task_sets[1].name: task set "sim" is defined twice (first as '
                   'task_sets[0], line 9)')
    msg = error(edit("    cores: 4\n", "    cores: 4\n    cores: 2\n"))
    assert msg == "wf.yaml:17: task_sets[1].cores: key given twice (first on line 16)"


def test_several_problems_are_all_listed() -> None:
    text = edit("count: 4", "count: zero", edit("mode: barrier", "mode: both"))
    lines = error(text).splitlines()
    assert lines[0].startswith("wf.yaml:2: mode:")
    assert lines[1].startswith("wf.yaml:10: task_sets[0].count:")


def test_not_a_mapping_and_empty_files() -> None:
    assert error("") == ("wf.yaml:1: expected a mapping with the keys name, mode, platform, "
                         "task_sets; got an empty file")
    assert error("- a\n").startswith("wf.yaml:1: expected a mapping")
    assert error("name: x\ntask_sets: []\n").startswith(
        "wf.yaml:2: task_sets: expected a non-empty list of task sets, got []")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="nope.yaml: no such file"):
        load_workflow(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n  indented: wrong\n")
    with pytest.raises(SpecError) as info:
        load_workflow(bad)
    assert str(info.value).startswith(f"{bad}:2: YAML syntax error")


def test_odd_shapes_get_messages_not_tracebacks() -> None:
    assert error("task_sets: [a]\n") == (
        'wf.yaml:1: task_sets[0]: expected a task set: a mapping such as {name: sim, count: 4, '
        'duration: 10}, got "a"')
    text = "task_sets:\n - name: a\n   duration:\n     mean: 1\n     7: 2\n"
    assert error(text) == "wf.yaml:5: task_sets[0].duration: keys must be strings, got 7"
    assert error("task_sets: [{name: a, duration: {distribution: empirical}}]\n") == (
        "wf.yaml:1: task_sets[0].duration: an empirical distribution needs samples: [...]")
    assert error("task_sets: [{name: a, duration: {mean: .inf}}]\n") == (
        "wf.yaml:1: task_sets[0].duration.mean: expected a number of seconds >= 0, got inf")
    assert error("task_sets: [{name: a, duration: 1, count: null}]\n") == (
        "wf.yaml:1: task_sets[0].count: expected an integer >= 1, got null (nothing)")
    assert error("!!python/object:os.system x\n").startswith(
        "wf.yaml:1: YAML syntax error: could not determine a constructor")
    assert error("x: &a {name: a, duration: 1}\ntask_sets: [*a]\n").startswith(
        'wf.yaml:1: x: unknown key "x"')


def test_a_binary_file_is_refused_with_a_message(tmp_path: Path) -> None:
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"\x00\x01\x02name: x\n")
    with pytest.raises(SpecError, match=r"nul.yaml: not a YAML text file: unacceptable "
                                        r"character #x0000"):
        load_workflow(nul)
    blob = tmp_path / "blob.yaml"
    blob.write_bytes(bytes(range(128, 256)) * 3)
    with pytest.raises(SpecError, match="blob.yaml: cannot read"):
        load_workflow(blob)


def test_a_count_no_run_could_hold_is_refused_at_its_key() -> None:
    text = edit("    count: 4\n    kind: simulation", "    count: 100000000000000000000\n"
                "    kind: simulation")
    assert error(text) == (
        "wf.yaml:10: task_sets[0].count: 100,000,000,000,000,000,000 tasks is more than one run "
        "can hold: at most 10,000,000 (split the campaign, or lower count)")
    many = "task_sets:\n" + "".join(f" - {{name: s{i}, count: 4000000, duration: 1}}\n"
                                    for i in range(3))
    assert "12,000,000 tasks in all" in error(many)


def test_a_spread_distribution_needs_its_sd() -> None:
    text = edit("{distribution: lognormal, mean: 5, sd: 1}", "{distribution: lognormal, mean: 5}")
    assert error(text).endswith("task_sets[2].duration: a lognormal distribution needs sd > 0 "
                                "(its standard deviation, in seconds); a duration without "
                                "spread is distribution: fixed")
    text = edit("{mean: 3, sd: 0.5}", "{distribution: normal, mean: 3}")
    assert "a normal distribution needs sd > 0" in error(text)
