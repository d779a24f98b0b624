"""lark-oapi's API packages, each run when first used instead of all at `import lark_oapi`.

`import lark_oapi` imports every one of its ~60 API services, each package's `__init__` star-importing all of
its models (about 10,000 modules): ~1.4 s and ~100 MB of a `kpibot run` that calls one service (im). The
event dispatcher and the REST client import the services' processors and resources by their module paths, which
need only the models they name. So the `__init__` of every package under `lark_oapi.api.<service>` (services
other than KEEP) is deferred: the package exists at once (its `__path__` lets its submodules import as
usual), and its body runs on the first attribute it does not have yet (PEP 562 module `__getattr__`), which
`from package import Name` and `from package import *` both ask for (`__all__`). What a program sees is the
same; what it never touches is never loaded. importlib.util.LazyLoader cannot do this: importing a submodule
reads the parent's `__path__`, which makes a lazy module load in full.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

PREFIX = "lark_oapi.api."
KEEP = frozenset({"im"})   # the services kpibot calls: loaded as the SDK loads them


class _DeferredInit(importlib.abc.Loader):
    """Runs a package's `__init__` (by its own loader) on the first missing attribute, once, under a lock."""

    def __init__(self, real: importlib.abc.Loader) -> None:
        self.real = real
        self._lock = threading.RLock()   # per module: a first use in two threads runs the body once

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        real, lock = self.real, self._lock
        started = False

        def __getattr__(name: str) -> Any:
            nonlocal started
            if name.startswith("__") and name != "__all__":   # probes such as the import system's `__path__`
                raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")
            with lock:   # another thread waits for the body to finish; the body's own asks (same thread) do not
                if not started:
                    started = True
                    try:
                        real.exec_module(module)
                    except BaseException:   # a half-run body must not stay importable: the next import raises again
                        sys.modules.pop(module.__name__, None)
                        raise
                    finally:
                        del module.__dict__["__getattr__"]
            try:
                return module.__dict__[name]
            except KeyError:
                raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}") from None

        module.__getattr__ = __getattr__  # type: ignore[attr-defined]


class _DeferredVersion(_DeferredInit):
    """A service's `<ver>/version.py` (`class V1` holding one object per resource, each resource module importing
    its request and response models): `V1` is at first a stand-in whose instances become the real `V1` on their
    first attribute, so that `lark.Client` building all ~60 services loads no resource until one is called."""

    def exec_module(self, module: ModuleType) -> None:
        super().exec_module(module)
        run_body = module.__getattr__  # type: ignore[attr-defined]
        name = module.__name__.rsplit(".", 2)[-2].upper()   # lark_oapi.api.acs.v1.version: V1

        def real_class() -> type:
            return run_body(name)   # type: ignore[no-any-return]

        module.__dict__[name] = _stand_in(name, module.__name__, real_class, self._lock)


def _stand_in(name: str, module: str, real_class: Any, lock: threading.RLock) -> type:
    """A class named `name` whose instance, on its first attribute, is made an instance of `real_class()`
    built with the same arguments (the version objects have no methods: only resources as attributes)."""

    def __init__(self: Any, *args: Any) -> None:
        object.__setattr__(self, "_deferred_args", args)

    def __getattr__(self: Any, attr: str) -> Any:
        with lock:
            if "_deferred_args" in self.__dict__:
                real = real_class()(*self.__dict__.pop("_deferred_args"))
                self.__dict__.update(real.__dict__)
                self.__class__ = type(real)
        return object.__getattribute__(self, attr)

    return type(name, (), {"__init__": __init__, "__getattr__": __getattr__, "__module__": module})


class _Finder(importlib.abc.MetaPathFinder):
    """Finds `lark_oapi.api.<service>...` packages as the path finder does, with their `__init__` deferred."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(PREFIX) or fullname[len(PREFIX):].split(".")[0] in KEEP:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        if spec.submodule_search_locations:
            spec.loader = _DeferredInit(spec.loader)
        elif fullname.count(".") == 4 and fullname.endswith(".version"):
            spec.loader = _DeferredVersion(spec.loader)
        # other plain modules (processors, resources, models): loaded as usual
        return spec


def install() -> None:
    """Idempotent; before `import lark_oapi` (bot.platforms' `__init__` calls it)."""
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
