"""Run options as users see them, derived from their one declaration.

The options are the fields of `NetAdaptConfig` (engine) and `TrainingOptions` (fine-tune),
each declared with `option(...)` (service/netadapt/option_fields.py). From those fields
come: the pydantic models of POST /v1/runs (names, defaults, bounds, choices and
descriptions in /openapi.json), the CLI flags of `netadapt prune` and `netadapt runs
create` with their help, and the labels the dashboard shows a run's settings under.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from dataclasses import MISSING, dataclass
from typing import TYPE_CHECKING, Any, Literal

from service.netadapt.config import NetAdaptConfig
from service.netadapt.option_fields import OptionInfo, default_of, info_of, value_types
from service.pruning.options import TrainingOptions

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

# The budget and its kind are top-level in a run request and have their own CLI flags
# (--budget, --absolute-budget); every other engine setting is an "engine option".
TOP_LEVEL_ENGINE_FIELDS = ("budget", "budget_kind")


@dataclass(frozen=True)
class RunOption:
    name: str
    kind: type  # float, int, bool, str, or tuple (a list of floats)
    default: Any  # MISSING when required
    info: OptionInfo

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        return self.info.label or self.name.replace("_", " ").capitalize()

    @property
    def json_default(self) -> Any:
        return list(self.default) if isinstance(self.default, tuple) else self.default


@functools.cache
def declared_options(cls: type) -> tuple[RunOption, ...]:
    kinds = value_types(cls)
    return tuple(RunOption(f.name, kinds[f.name], default_of(f), info_of(f)) for f in dataclasses.fields(cls))


def engine_options() -> tuple[RunOption, ...]:
    return tuple(o for o in declared_options(NetAdaptConfig) if o.name not in TOP_LEVEL_ENGINE_FIELDS)


def training_options() -> tuple[RunOption, ...]:
    return declared_options(TrainingOptions)


def engine_option(name: str) -> RunOption:
    return next(o for o in declared_options(NetAdaptConfig) if o.name == name)


# -- REST (pydantic) ------------------------------------------------------------------------


def rest_annotation(option: RunOption) -> Any:
    if option.info.choices:
        return Literal[option.info.choices]  # type: ignore[valid-type]
    return list[float] if option.kind is tuple else option.kind


def rest_field(option: RunOption) -> FieldInfo:
    from pydantic import Field

    info = option.info
    extra: dict[str, Any] = {"default": option.default} if option.default is not MISSING else {}
    if option.kind is tuple:
        # A fresh list per request; the schema still shows the default.
        extra = {"default_factory": list, "max_length": info.max_items, "json_schema_extra": {"default": []}}
    field: FieldInfo = Field(
        **extra, title=option.label, description=info.help,
        gt=info.gt, ge=info.ge, lt=info.lt, le=info.le,
    )  # fmt: skip
    return field


def rest_model(name: str, doc: str, options: tuple[RunOption, ...]) -> type[BaseModel]:
    """A request model with one field per option; unknown names are refused (422)."""
    from pydantic import ConfigDict, create_model

    fields: dict[str, Any] = {o.name: (rest_annotation(o), rest_field(o)) for o in options}
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        name, __config__=ConfigDict(extra="forbid"), __doc__=doc, __module__=__name__, **fields
    )
    return model


# -- CLI (argparse) -------------------------------------------------------------------------


def _float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers like 0.75,0.6, got {text!r}"
        ) from None


def cli_help(option: RunOption) -> str:
    facts = [option.info.range_text()] if option.info.range_text() else []
    default = option.default
    if default is not MISSING and default != () and option.kind is not bool:
        facts.append(f"default {default:g}" if option.kind is float else f"default {default}")
    return option.info.help.replace("%", "%%") + (f" ({'; '.join(facts)})" if facts else "")


def add_cli_arguments(group: Any, options: tuple[RunOption, ...]) -> None:
    """One flag per option. A flag not given is left out of the parsed arguments, so the
    declaration's default applies (and `runs create` sends only what the user chose)."""
    for option in options:
        kwargs: dict[str, Any] = {"dest": option.name, "default": argparse.SUPPRESS, "help": cli_help(option)}
        if option.kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif option.kind is tuple:
            kwargs.update(type=_float_list, metavar=option.info.metavar)
        else:
            kwargs["type"] = option.kind
            if option.info.choices:
                kwargs["choices"] = option.info.choices
            elif option.info.metavar:
                kwargs["metavar"] = option.info.metavar
        group.add_argument(option.flag, **kwargs)


def cli_values(args: argparse.Namespace, options: tuple[RunOption, ...]) -> dict[str, Any]:
    """The options given on the command line, by name."""
    return {o.name: getattr(args, o.name) for o in options if hasattr(args, o.name)}


# -- dashboard --------------------------------------------------------------------------------


def labelled_settings(request: dict[str, Any]) -> list[dict[str, Any]]:
    """A run request's engine and training settings as rows {label, name, value, help,
    is_default}; settings an older request does not name show their default."""
    rows = []
    sections = (
        (request, tuple(o for o in declared_options(NetAdaptConfig) if o.name in TOP_LEVEL_ENGINE_FIELDS)),
        (request.get("engine") or {}, engine_options()),
        (request.get("training") or {}, training_options()),
    )
    for given, options in sections:
        for option in options:
            value = given.get(option.name, option.json_default)
            rows.append(
                {
                    "name": option.name,
                    "label": option.label,
                    "value": value,
                    "help": option.info.help,
                    "is_default": value == option.json_default,
                }
            )
    return rows
