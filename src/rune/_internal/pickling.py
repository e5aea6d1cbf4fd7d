"""Pickling RUNE's compiled objects whole: generated functions, their namespaces and code.

A loaded bundle is mostly compiled code: functions generated for Cedar policies and
plans and for Datalog rules, whose namespaces hold constants and helpers and, through
closures, one another. `pickle` refuses them (it pickles a function by its importable
name), and refuses the locks and read-only mapping views beside them. `dumps` pickles
such an object graph faithfully, and `loads` rebuilds it:

* a function that cannot be imported by name is rebuilt from its code (written with
  `marshal`), its namespace, defaults, closure cells and attributes; a namespace that is
  a module's is that module's again, any other is rebuilt once and shared as before;
* every object that is a global of a RUNE module (a sentinel such as `_UNSET`, a shared
  table, a function) stays that module's object, by reference: code compares such
  objects by identity, and a copy would never be identical to the original;
* a lock is a new lock, a thread-local is a new empty one, a `MappingProxyType` is a view
  of its (rebuilt) mapping, a module is imported.

Anything else goes through `pickle` as usual; what it cannot pickle raises
`pickle.PicklingError` (callers then do without). The result is code: `loads` must only
be given what `dumps` wrote in a place no one else can write (`rune._internal.
cache_files`).
"""

from __future__ import annotations

import _thread
import gc
import importlib
import io
import marshal
import pickle
import sys
import threading
from types import CellType, CodeType, FunctionType, MappingProxyType, ModuleType
from typing import Any

__all__ = ["dumps", "loads"]

# Globals of these types are values, not identities: referring to them by name would
# only tie a copy to whatever the name holds later.
_VALUE_TYPES = (str, bytes, int, float, complex, bool, type(None), type, ModuleType)
_PROTOCOL = 5


def dumps(value: Any) -> bytes:
    """``value`` pickled (see the module docstring).

    Raises:
        pickle.PicklingError: something in it cannot be pickled.
    """
    out = io.BytesIO()
    try:
        _Pickler(out).dump(value)
    except (TypeError, AttributeError, ValueError, RecursionError) as error:
        raise pickle.PicklingError(str(error)) from error
    return out.getvalue()


def loads(data: bytes) -> Any:
    """The object ``data`` (written by `dumps`) holds. Runs code: see the module docstring.

    Raises:
        Exception: any, for data `dumps` did not write, or written by another RUNE.
    """
    return _Unpickler(io.BytesIO(data)).load()


def _module_globals() -> dict[int, tuple[str, str, Any]]:
    """id -> (module, name, object) of every global of a loaded RUNE module whose
    identity matters (see `_VALUE_TYPES`)."""
    found: dict[int, tuple[str, str, Any]] = {}
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == "rune" or module_name.startswith("rune.")):
            continue
        for name, value in list(vars(module).items()):
            if not name.startswith("__") and not isinstance(value, _VALUE_TYPES):
                found.setdefault(id(value), (module_name, name, value))
    return found


def _importable(function: FunctionType) -> bool:
    """Whether `pickle` can find ``function`` again by its module and qualified name."""
    module = sys.modules.get(function.__module__ or "")
    if module is None or "<" in function.__qualname__:
        return False
    found: Any = module
    for part in function.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is function


class _ModuleNamespace:
    """Stands for the globals of module ``name`` in a pickled function."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __reduce__(self) -> tuple[Any, ...]:
        return (_namespace_of_module, (self.name,))


class _Namespace:
    """Stands for a generated namespace (one per dict, so functions share it again)."""

    __slots__ = ("namespace",)

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace

    def __reduce__(self) -> tuple[Any, ...]:
        # Made empty first and filled after (the dict items): a function in it refers to
        # the namespace being rebuilt, which pickle's memo then resolves.
        items = iter([(k, v) for k, v in self.namespace.items() if k != "__builtins__"])
        return (_new_namespace, (), None, None, items)


def _namespace_of_module(name: str) -> dict[str, Any]:
    return vars(importlib.import_module(name))


def _new_namespace() -> dict[str, Any]:
    import builtins

    return {"__builtins__": vars(builtins)}  # as `exec` sets it


def _new_function(code: CodeType, namespace: dict[str, Any], name: str,
                  defaults: tuple[Any, ...] | None,
                  closure: tuple[CellType, ...] | None) -> FunctionType:
    return FunctionType(code, namespace, name, defaults, closure)


def _set_function_state(function: FunctionType, state: dict[str, Any]) -> FunctionType:
    function.__qualname__ = state["qualname"]
    function.__module__ = state["module"]
    function.__doc__ = state["doc"]
    function.__kwdefaults__ = state["kwdefaults"]
    function.__dict__.update(state["dict"])
    return function


def _new_cell() -> CellType:
    return CellType()


def _fill_cell(cell: CellType, contents: Any) -> CellType:
    cell.cell_contents = contents
    return cell


def _code(data: bytes) -> CodeType:
    code = marshal.loads(data)
    if not isinstance(code, CodeType):
        raise pickle.UnpicklingError("not a code object")
    return code


def _mapping_view(mapping: Any) -> MappingProxyType[Any, Any]:
    return MappingProxyType(mapping)


def _new_lock() -> Any:
    return threading.Lock()


def _new_rlock() -> Any:
    return threading.RLock()


def _new_local() -> threading.local:
    return threading.local()


_LOCK_TYPE = type(threading.Lock())
_RLOCK_TYPE = type(threading.RLock())


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=_PROTOCOL)
        self._globals = _module_globals()
        self._namespaces: dict[int, _Namespace] = {}

    def persistent_id(self, obj: Any) -> Any:
        known = self._globals.get(id(obj))
        if known is not None and known[2] is obj:
            return (known[0], known[1])
        return None

    def reducer_override(self, obj: Any) -> Any:
        kind = obj.__class__
        if kind is FunctionType:
            return self._function(obj)
        if kind is CodeType:
            return (_code, (marshal.dumps(obj),))
        if kind is CellType:
            try:
                contents = obj.cell_contents
            except ValueError:  # an empty cell
                return (_new_cell, ())
            return (_new_cell, (), contents, None, None, _fill_cell)
        if kind is MappingProxyType:
            # The view's mapping (`gc` is the only way to it), pickled once and shared.
            return (_mapping_view, (gc.get_referents(obj)[0],))
        if kind is _LOCK_TYPE or kind is _thread.LockType:
            return (_new_lock, ())
        if kind is _RLOCK_TYPE:
            return (_new_rlock, ())
        if kind is threading.local:
            return (_new_local, ())
        if kind is ModuleType:
            return (importlib.import_module, (obj.__name__,))
        return NotImplemented

    def _function(self, function: FunctionType) -> Any:
        if _importable(function):
            return NotImplemented  # by name, as pickle does
        namespace = function.__globals__
        module = sys.modules.get(namespace.get("__name__") or "")
        holder: Any
        if module is not None and vars(module) is namespace:
            holder = _ModuleNamespace(module.__name__)
        else:
            holder = self._namespaces.get(id(namespace))
            if holder is None:
                holder = self._namespaces[id(namespace)] = _Namespace(namespace)
        state = {"qualname": function.__qualname__, "module": function.__module__,
                 "doc": function.__doc__, "kwdefaults": function.__kwdefaults__,
                 "dict": function.__dict__}
        return (_new_function, (function.__code__, holder, function.__name__,
                                function.__defaults__, function.__closure__),
                state, None, None, _set_function_state)


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        module, name = pid
        return getattr(importlib.import_module(module), name)
