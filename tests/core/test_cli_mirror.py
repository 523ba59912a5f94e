"""The CLI mirrors the library: every command's options are keywords of the library call it makes.

Each command (walked recursively through typer's click group) is declared once in :func:`_calls` with
the library function(s) its body calls; every parameter of the command must be a parameter of one of
them, under the same name, or be listed in :data:`CLI_ONLY` / :data:`EXCEPTIONS` with the reason the
library has no such keyword. A library keyword renamed without the CLI, a CLI option named its own way
(``--num`` feeding ``num_instructions`` as ``num``), or a new command left out of the table fails here.
Keeping the names equal is also what lets ``cli_error_text`` turn a library error's ``params`` into
the command's flags.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest
import typer

from datamill.cli.main import app


def _calls() -> dict[str, tuple[Callable[..., Any], ...]]:
    """Command -> the library callables whose keywords its options are (imported here, not at collection)."""
    import uvicorn

    from datamill import diagnose, finetune, incontext, pretrain, synthetic
    from datamill.diagnose.label_noise import find_label_issues, load_label_arrays
    from datamill.feedback import demo, export, quality
    from datamill.feedback import service as fb
    from datamill.feedback.app import create_app as feedback_app
    from datamill.incontext.serve import create_app as incontext_app
    from datamill.io import read_records, write_records
    from datamill.lineage import trace
    from datamill.pretrain.annotate import annotate
    from datamill.pretrain.review import teacher_agreement
    from datamill.quickstart import run_quickstart
    from datamill.recipes import Recipe, load_recipe
    from datamill.synthetic.run import run_step
    from datamill.synthetic.tasks import TeacherStep

    recipe = (Recipe, Recipe.run)
    teacher = (synthetic.make_teacher, synthetic.OpenAITeacher, TeacherStep, run_step)
    return {
        "run": (load_recipe, Recipe.run),
        "quickstart": (run_quickstart,),
        "lineage": (trace,),
        "version": (),
        "pretrain run": (pretrain.default_recipe, Recipe.run),
        "pretrain extract": (pretrain.extract_pipeline, *recipe),
        "pretrain filter": (pretrain.filter_pipeline, *recipe),
        "pretrain dedup": (pretrain.dedup_pipeline, *recipe),
        "pretrain decontaminate": (pretrain.decontaminate_pipeline, *recipe),
        "pretrain tokenize": (pretrain.tokenize_pipeline, pretrain.Shards, *recipe),
        "pretrain report": (pretrain.write_report,),
        "pretrain annotate": (annotate, synthetic.make_teacher),
        "pretrain train-classifier": (pretrain.train_classifier,),
        "pretrain classify": (pretrain.classify_pipeline, *recipe),
        "pretrain agreement": (teacher_agreement,),
        "feedback serve": (feedback_app, uvicorn.run),
        "feedback demo": (demo.seed_demo,),
        "feedback init": (fb.create_user,),
        "feedback create-user": (fb.create_user,),
        "feedback create-project": (fb.create_project,),
        "feedback add-member": (fb.add_member,),
        "feedback remove-member": (fb.remove_member,),
        "feedback members": (fb.list_members,),
        "feedback audit": (fb.export_audit, fb.list_audit),
        "feedback tokens": (fb.list_api_tokens,),
        "feedback revoke-token": (fb.revoke_api_token,),
        "feedback import": (fb.import_tasks, synthetic.make_teacher),
        "feedback export": (export.export,),
        "feedback stats": (quality.agreement_report,),
        "finetune validate": (finetune.validate,),
        "finetune stats": (finetune.file_token_stats,),
        "finetune convert": (finetune.convert,),
        "finetune clean": (finetune.clean_file,),
        "finetune decontaminate": (finetune.decontaminate_file,),
        "finetune split": (finetune.split_file,),
        "finetune mix": (finetune.mix_files,),
        "finetune card": (finetune.write_dataset_card,),
        "incontext chunk": (read_records, incontext.chunk_documents, write_records),
        "incontext index": (
            read_records,
            incontext.chunk_documents,
            incontext.build_index,
            incontext.DenseIndex,
        ),
        "incontext search": (incontext.load_index, incontext.Index.search),
        "incontext pack": (incontext.retrieve_and_pack,),
        "incontext eval": (incontext.evaluate_retrieval,),
        "incontext select": (incontext.FewShotSelector, incontext.FewShotSelector.select),
        "incontext serve": (incontext_app, uvicorn.run),
        "incontext judge": (incontext.judge_answers,),
        "synthetic respond": (synthetic.Respond, *teacher),
        "synthetic self-instruct": (synthetic.SelfInstruct, *teacher),
        "synthetic qa": (synthetic.QAFromDocs, *teacher),
        "synthetic judge": (synthetic.Judge, *teacher),
        "synthetic generate": (load_recipe, Recipe.run),
        "synthetic to-feedback": (synthetic.write_feedback_tasks,),
        "synthetic fake-server": (synthetic.FakeServer,),
        "diagnose report": (diagnose.diagnose, diagnose.write_report),
        "diagnose label-issues": (load_label_arrays, find_label_issues),
        "diagnose contradictions": (diagnose.scan_contradictions, diagnose.TeacherJudge),
    }


#: Options of any command that only shape what the CLI prints.
CLI_ONLY = {
    "json_out": "--json prints the result as JSON instead of tables",
    "print_recipe": "--print-recipe prints the recipe the command would run, instead of running it",
}

#: Options the library call has no keyword for, per command, and why.
EXCEPTIONS: dict[str, dict[str, str]] = {
    "feedback create-user": {"token": "--token also makes an API token for the user (create_api_token)"},
    "feedback tokens": {"user": "a username, looked up (user_by_name) for list_api_tokens' user_id"},
    "incontext chunk": {"output": "the file write_records writes the chunks to"},
    "incontext eval": {
        "per_query": "writes EvalResult.per_query as JSONL",
        "ann_threshold": "DenseIndex's ann_threshold, passed through index_params",
    },
    "incontext index": {
        name: f"--{name} is a shortcut for --kind {name}" for name in ("bm25", "dense", "hybrid")
    },
    "diagnose label-issues": {"top": "how many rows the table shows"},
    "diagnose contradictions": {"top": "how many rows the table shows"},
}


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*path, name))
        else:
            yield " ".join((*path, name)), cmd


COMMANDS = dict(_commands(typer.main.get_command(app)))


def _keywords(func: Callable[..., Any]) -> set[str]:
    params = inspect.signature(func).parameters.values()
    return {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _options(cmd: Any) -> set[str]:
    return {p.name for p in cmd.params if p.name and p.name != "help"}


def test_every_command_is_declared_once():
    calls = _calls()
    assert sorted(set(COMMANDS) - set(calls)) == [], "declare the library call of each new command in _calls"
    assert sorted(set(calls) - set(COMMANDS)) == [], "_calls names commands that do not exist"
    assert set(EXCEPTIONS) <= set(COMMANDS)


def _stray(cmd: Any, calls: tuple[Callable[..., Any], ...], excused: dict[str, str]) -> list[str]:
    """The options of ``cmd`` that no function of ``calls`` takes and no exception excuses."""
    keywords = set().union(*(_keywords(f) for f in calls))
    return sorted(_options(cmd) - keywords - set(CLI_ONLY) - set(excused))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_options_are_the_library_calls_keywords(name):
    options = _options(COMMANDS[name])
    keywords = set().union(*(_keywords(f) for f in _calls()[name]))
    excused = EXCEPTIONS.get(name, {})
    stray = _stray(COMMANDS[name], _calls()[name], excused)
    assert not stray, (
        f"datamill {name}: {stray} are not keywords of {[f.__qualname__ for f in _calls()[name]]}"
    )
    stale = sorted(set(excused) - options)
    assert not stale, f"EXCEPTIONS lists {stale} for datamill {name}, which has no such option"
    assert not set(excused) & keywords, f"datamill {name}: {set(excused) & keywords} are library keywords now"


def _names(node: ast.AST, ctx: type[ast.expr_context] = ast.expr_context) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}


def _reaches_a_call(fn: ast.FunctionDef, name: str) -> bool:
    """Whether ``name``, or a name assigned or iterated from it (to any depth), is an argument of a call
    in ``fn``: an option only tested (``if safety_model is not None``) and never passed on does not."""
    tainted = {name}
    while True:
        before = len(tainted)
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if node.value is not None and _names(node.value) & tainted:
                    tainted.update(*(_names(t, ast.Store) for t in targets))
            elif isinstance(node, ast.For | ast.comprehension) and _names(node.iter) & tainted:
                tainted |= _names(node.target, ast.Store)
        if len(tainted) == before:
            break
    calls = (n for n in ast.walk(fn) if isinstance(n, ast.Call))
    return any(_names(a) & tainted for c in calls for a in [*c.args, *(k.value for k in c.keywords)])


def _dead(callback: Callable[..., Any], options: set[str], excused: set[str]) -> list[str]:
    """The parameters of ``callback`` (and its ``**block`` of shared options) that are options of the
    command but reach no call in its body: read from the command line, then dropped."""
    fn = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(callback)))).body[0]
    assert isinstance(fn, ast.FunctionDef)
    params = [a.arg for a in [*fn.args.args, *fn.args.kwonlyargs]]
    dead = [p for p in params if p in options and p not in excused and not _reaches_a_call(fn, p)]
    if fn.args.kwarg is not None and not _reaches_a_call(fn, fn.args.kwarg.arg):
        dead.append(f"**{fn.args.kwarg.arg}")
    return dead


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_is_passed_on(name):
    """Equal names are not enough: each option must reach a call (the library's, or a helper that makes
    its argument), or ``datamill finetune clean --safety-model`` could be read and never given to clean()."""
    cmd = COMMANDS[name]
    excused = set(CLI_ONLY) | set(EXCEPTIONS.get(name, {}))
    dead = _dead(cmd.callback, _options(cmd), excused)
    assert not dead, f"datamill {name}: {dead} are read from the command line and passed to nothing"


def _tested_only(safety_model: Annotated[str | None, typer.Option("--safety-model")] = None) -> None:
    """A command that reads an option and drops it."""
    if safety_model is not None:
        print("refusals kept")


def _passed(safety_model: Annotated[str | None, typer.Option("--safety-model")] = None) -> None:
    """The same option given to the library (through a name assigned from it)."""
    from datamill.finetune import clean

    model = safety_model or None
    clean([], safety_model=model)


def test_an_option_passed_to_nothing_is_caught():
    assert _dead(_tested_only, {"safety_model"}, set()) == ["safety_model"]
    assert _dead(_passed, {"safety_model"}, set()) == []


def _own_way(
    num: Annotated[int, typer.Option("--num")] = 1, json_out: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """A command whose option is named its own way."""


def _mirrored(num_instructions: Annotated[int, typer.Option("--num")] = 1) -> None:
    """The same flag under the library's name."""


def _command(callback: Callable[..., Any]) -> Any:
    one = typer.Typer(add_completion=False)
    one.command()(callback)
    return typer.main.get_command(one)


def test_an_option_named_its_own_way_is_caught():
    from datamill.synthetic import SelfInstruct

    assert _stray(_command(_own_way), (SelfInstruct,), {}) == ["num"]
    assert _stray(_command(_mirrored), (SelfInstruct,), {}) == []


def test_error_params_reach_the_flag_through_the_shared_name():
    """The point of equal names: a library error about ``num_instructions`` speaks of ``--num-instructions``."""
    from datamill.cli._common import cli_error_text
    from datamill.errors import ConfigError

    cmd = COMMANDS["synthetic self-instruct"]
    exc = ConfigError("num_instructions must be >= 1, got 0", params="num_instructions")
    assert cli_error_text(exc, cmd) == "--num-instructions must be >= 1, got 0"
    exc = ConfigError("max_concurrency must be >= 1, got 0", params="max_concurrency")
    assert cli_error_text(exc, COMMANDS["synthetic respond"]) == "--max-concurrency must be >= 1, got 0"
    exc = ConfigError("pool is empty", params="pool")
    assert cli_error_text(exc, COMMANDS["incontext pack"]) == "--pool is empty"


#: Options whose flag is not the parameter's name, and why (a repeatable option's flag may also be the
#: singular of its plural name: ``--input`` fills ``inputs``).
FLAG_EXCEPTIONS = {
    "json_out": "--json, the same switch on every command",
    "out_dir": "--output, the one name of the output option across stages",
    "out_html": "--output, the one name of the output option across stages",
}


def _flag_mismatches(cmd: Any) -> list[str]:
    bad = []
    for p in cmd.params:
        if getattr(p, "param_type_name", "") != "option" or p.name in FLAG_EXCEPTIONS or p.name == "help":
            continue
        flag = "--" + p.name.replace("_", "-")
        if flag in p.opts or (len(p.name) == 1 and "-" + p.name in p.opts):
            continue
        if not (p.multiple and flag.endswith("s") and flag[:-1] in p.opts):
            bad.append(f"{'/'.join(p.opts)} for {p.name}")
    return bad


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_the_parameters_name_as_a_flag(name):
    """``--price`` for ``price_per_million`` made users guess; the exact name is a flag (old spellings
    stay as aliases), so the CLI reads like the Python call it makes."""
    assert _flag_mismatches(COMMANDS[name]) == []


def test_a_flag_named_its_own_way_is_caught():
    def own(
        num_instructions: Annotated[int, typer.Option("--num")] = 1,
        inputs: Annotated[list[str] | None, typer.Option("--input")] = None,
    ) -> None:
        pass

    assert _flag_mismatches(_command(own)) == ["--num for num_instructions"]
