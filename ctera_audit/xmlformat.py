"""The portal's v1 XML value format, shared by the client and the simulator.

A value is ``<val>`` (scalar), ``<list>`` (sequence) or ``<obj>`` (fields in
``<att id="...">`` children, optional ``class`` attribute). Scalars are typed the
way the official SDK types them: floats (with a dot), ints, booleans, else text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

CLASS_KEY = "$class"
"""Key under which a decoded object keeps its ``class`` attribute."""


def encode(value: Any) -> bytes:
    """Serialize a Python value (dict, list, scalar or None) as v1 XML."""
    return ET.tostring(_element(value), encoding="utf-8")


def decode(body: bytes) -> Any:
    """Parse a v1 XML body; an empty or non-XML body gives ``None``, as in the SDK."""
    if not body or not body.strip():
        return None

    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    return _value(root)


def _element(value: Any) -> ET.Element:
    if isinstance(value, dict):
        element = ET.Element("obj")
        if CLASS_KEY in value:
            element.set("class", str(value[CLASS_KEY]))
        for key, item in value.items():
            if key == CLASS_KEY:
                continue
            attribute = ET.SubElement(element, "att", id=key)
            if item is not None:
                attribute.append(_element(item))
        return element

    if isinstance(value, list | tuple):
        element = ET.Element("list")
        element.extend(_element(item) for item in value)
        return element

    element = ET.Element("val")
    if isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)
    return element


def _value(element: ET.Element) -> Any:
    if element.tag == "obj":
        result: dict[str, Any] = {}
        if "class" in element.attrib:
            result[CLASS_KEY] = element.attrib["class"]
        for attribute in element.findall("att"):
            children = list(attribute)
            result[attribute.get("id", "")] = _value(children[0]) if children else None
        return result

    if element.tag == "list":
        return [_value(child) for child in element]
    return _scalar(element.text)


def _scalar(text: str | None) -> Any:
    if not text:
        return ""

    if "." in text:
        try:
            return float(text)
        except ValueError:
            pass
    try:
        return int(text)
    except ValueError:
        pass

    stripped = text.strip()
    if stripped in ("true", "false"):
        return stripped == "true"
    return stripped
