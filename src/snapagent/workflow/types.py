"""Port types and the one rule that says which output may feed which input.

>>> PortType.INTEGER.fits(PortType.NUMBER)
True
>>> fits(PortType.DOCUMENTS, PortType.ARRAY_OBJECT)
True
>>> fits(PortType.STRING, PortType.NUMBER)
False
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["PortType", "fits"]


class PortType(StrEnum):
    """The value types a port may carry (the strings are the graph JSON spelling)."""

    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY_STRING = "array[string]"
    ARRAY_NUMBER = "array[number]"
    ARRAY_OBJECT = "array[object]"
    DOCUMENTS = "documents"
    MESSAGES = "messages"
    ANY = "any"

    def fits(self, target: PortType) -> bool:
        """Whether a value of this type may flow into a port of type ``target``."""
        return fits(self, target)


# Widening pairs beyond identity and `any`: a value of the left type is also a valid value of
# the right type (every integer is a number; documents and chat messages are lists of objects).
_WIDENS_TO: frozenset[tuple[PortType, PortType]] = frozenset(
    {
        (PortType.INTEGER, PortType.NUMBER),
        (PortType.DOCUMENTS, PortType.ARRAY_OBJECT),
        (PortType.MESSAGES, PortType.ARRAY_OBJECT),
    }
)


def fits(source: PortType, target: PortType) -> bool:
    """The compatibility relation: identity, anything fits `any`, `any` fits anything (it is
    checked when the value arrives), plus the widening pairs above."""
    if source is target or target is PortType.ANY or source is PortType.ANY:
        return True
    return (source, target) in _WIDENS_TO
