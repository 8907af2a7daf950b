"""What each hyperparameter of a method is: its type, its value in each profile, and its
documentation (the string under the field in the ``Params`` dataclass, as PEP 257 attribute
docstrings are written), for ``uadbench methods NAME``; and docstrings as plain text."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ParamInfo:
    """One hyperparameter of a method."""

    name: str
    kind: str
    """Its type as written in the ``Params`` class."""
    values: dict[str, Any]
    """Its value in each profile, by profile name."""
    doc: str


def plain_text(doc: str) -> str:
    """``doc`` (reStructuredText, as docstrings are written) as one line of plain text: its
    whitespace collapsed and the double backticks of inline literals dropped."""
    return " ".join(doc.split()).replace("``", "")


def first_paragraph(doc: str | None) -> str:
    """The first paragraph of a docstring, as ``plain_text``; empty without one."""
    return plain_text(inspect.cleandoc(doc or "").split("\n\n")[0])


SHARED_DOCS = {"image_size": "Side in pixels of the square images the method is given."}
"""What a parameter every method has means, unless its class says otherwise."""


def parameters(method_cls: type) -> list[ParamInfo]:
    """Every hyperparameter of ``method_cls``, in the order of its ``Params`` fields."""
    docs = {**SHARED_DOCS, **method_cls.param_docs, **attribute_docs(method_cls.Params)}
    profiles = method_cls.profile_table()
    return [
        ParamInfo(
            f.name,
            f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type)),
            {profile: getattr(params, f.name) for profile, params in profiles.items()},
            plain_text(docs.get(f.name, "")),
        )
        for f in dataclasses.fields(method_cls.Params)
    ]


def attribute_docs(cls: type) -> dict[str, str]:
    """The string literal under each annotated field of ``cls`` and its bases (nearest
    first); empty where the source cannot be read (a class made at run time)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for field, after in zip(body, [*body[1:], None], strict=True):
            if (
                isinstance(field, ast.AnnAssign)
                and isinstance(field.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[field.target.id] = after.value.value
    return docs
