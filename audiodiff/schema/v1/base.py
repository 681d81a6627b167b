"""The base of every spec class, and the strict scalar types the sections are written in.

Specs are frozen and reject unknown keys. Scalars are strict (no `"5"` -> 5, no `true` -> 1, no `1.0` -> 1), while
JSON arrays become tuples so that specs stay hashable and immutable. Floats reject NaN and infinities.
"""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import AllowInfNan, BaseModel, ConfigDict, Strict, StringConstraints

Int = Annotated[int, Strict()]
PositiveInt = Annotated[int, Strict(), Gt(0)]
# How many times a layer or block repeats. Far above any real model, and low enough that everything that walks the
# layers (parameter counts, activation estimates) stays instant.
MAX_REPEATS = 10_000
RepeatCount = Annotated[int, Strict(), Gt(0), Le(MAX_REPEATS)]
NonNegativeRepeatCount = Annotated[int, Strict(), Ge(0), Le(MAX_REPEATS)]
NonNegativeInt = Annotated[int, Strict(), Ge(0)]
Float = Annotated[float, Strict(), AllowInfNan(False)]
PositiveFloat = Annotated[float, Strict(), AllowInfNan(False), Gt(0)]
NonNegativeFloat = Annotated[float, Strict(), AllowInfNan(False), Ge(0)]
Probability = Annotated[float, Strict(), AllowInfNan(False), Ge(0), Le(1)]
UnitInterval = Annotated[float, Strict(), AllowInfNan(False), Ge(0), Lt(1)]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
NonEmptyStr = Annotated[str, Strict(), StringConstraints(min_length=1)]

# JSON arrays read as tuples; elements keep their own strictness.
IntTuple = Annotated[tuple[Int, ...], Strict(False)]
PositiveIntTuple = Annotated[tuple[PositiveInt, ...], Strict(False)]
RepeatCountTuple = Annotated[tuple[RepeatCount, ...], Strict(False)]
NonNegativeRepeatCountTuple = Annotated[tuple[NonNegativeRepeatCount, ...], Strict(False)]
FloatTuple = Annotated[tuple[Float, ...], Strict(False)]
StrTuple = Annotated[tuple[Str, ...], Strict(False)]

# A plain JSON value (metadata dicts of demos carry whatever the conditioners read).
JsonValue = Any


class Spec(BaseModel):
    """Base of all config specs: strict, frozen, closed."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        hide_input_in_errors=True,
        validate_default=False,
        protected_namespaces=(),
        defer_build=True,
    )

    def explicitly_set(self, field: str) -> bool:
        """True when the user's document spelled this field out (False: the default applies)."""
        return field in self.model_fields_set


def field_names(spec_class: type[BaseModel]) -> list[str]:
    """The keys a section accepts, as spelled in documents (aliases first)."""
    names = []
    for name, info in spec_class.model_fields.items():
        names.append(info.alias or name)
    return names
