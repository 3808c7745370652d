"""Reading a processors file: YAML (safe loading) into ``Node`` and ``Items`` that know their lines.

PyYAML forgets where a value came from; the constructors here keep each mapping's and each key's line so
that every error names the line to fix. A key written twice in one mapping is an error (PyYAML would keep
the last one silently, and a rule would vanish).
"""

from __future__ import annotations

from typing import Any

import yaml

from gelfingest.core.processors.base import ConfigError, Items, Node

# A file bigger than this is not a processors file (Filebeat's whole reference configuration is about
# 100 KiB); a reload builds it between two batches, and 256 KiB of conditions build in about 0.4 s.
MAX_FILE_SIZE = 256 * 1024


class _Loader(yaml.SafeLoader):
    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # An alias (*name) repeats a node without its bytes: nine nested ones in 500 bytes made a
        # mapping of gigabytes. A processors file has no need of them.
        if self.check_event(yaml.AliasEvent):
            mark = self.get_mark()
            raise ConfigError(mark.line + 1, "YAML aliases (*name) are not taken in a processors "
                              "file: write the value out")
        return super().compose_node(parent, index)


def _mapping(loader: _Loader, node: yaml.MappingNode) -> Node:
    out = Node(node.start_mark.line + 1)
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise ConfigError(line, f"a key must be a name, not {key!r}")
        name = str(key)
        if name in out:
            raise ConfigError(line, f"'{name}' is given twice in one mapping (first on line "
                              f"{out.key_lines[name]})")
        out[name] = loader.construct_object(value_node, deep=True)
        out.key_lines[name] = line
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> Items:
    out = Items(node.start_mark.line + 1)
    out.extend(loader.construct_object(item, deep=True) for item in node.value)
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def parse(text: str) -> Any:
    """The document of ``text``, with lines; ConfigError naming the line of a YAML error."""
    if len(text) > MAX_FILE_SIZE:
        raise ConfigError(0, f"{len(text)} bytes: a processors file is at most {MAX_FILE_SIZE}")
    try:
        return yaml.load(text, Loader=_Loader)
    except ConfigError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise ConfigError(line, f"not YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(0, f"not YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(0, "not YAML: nested too deep") from None
    except ValueError as exc:  # an integer of more digits than Python converts, a date that does not exist
        raise ConfigError(0, f"a value that cannot be read: {str(exc)[:200]}") from None
