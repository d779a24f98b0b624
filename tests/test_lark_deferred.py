"""lark-oapi's unused API services are loaded on first use, and then behave as the SDK's own (a fresh interpreter:
this process may have imported lark_oapi already)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import checkout_env

SCRIPT = textwrap.dedent("""
    import sys
    import bot.platforms.feishu  # installs the finder, imports lark_oapi as kpibot does
    import lark_oapi as lark

    loaded = [m for m in sys.modules if m.startswith("lark_oapi.api.contact.v3.resource")]
    assert not loaded, loaded
    assert len(sys.modules) < 4000, len(sys.modules)
    client = lark.Client.builder().app_id("a").app_secret("b").domain("http://127.0.0.1:1").build()
    assert "lark_oapi.api.contact.v3.resource.user" not in sys.modules
    user = client.contact.v3.user   # the stand-in becomes the real V3 on first use
    assert type(client.contact.v3).__module__ == "lark_oapi.api.contact.v3.version"
    assert type(user).__name__ == "User" and callable(user.create)
    from lark_oapi.api.contact.v3 import CreateUserRequest, User
    import lark_oapi.api.contact.v3.model as model
    assert model.User is User and CreateUserRequest.builder is not None
    from lark_oapi.api.drive.v1 import *  # noqa: F403
    assert "ListFileRequest" in dir()
    assert lark.api.hire.v1.Job.__name__ == "Job"
    try:
        lark.api.vc.v1.no_such_name
    except AttributeError:
        pass
    else:
        raise AssertionError("a missing name must raise AttributeError")
    import threading

    def first_use(errors: list) -> None:   # threads asking at once: each sees the whole package
        try:
            from lark_oapi.api.corehr.v1 import Employment  # noqa: F401
            assert type(client.corehr.v1.employment).__name__ == "Employment"
        except Exception as exc:
            errors.append(exc)

    errors: list = []
    threads = [threading.Thread(target=first_use, args=(errors,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    from lark_oapi.api.im.v1 import CreateMessageRequest  # kept: loaded as the SDK loads it
    assert client.im.v1.message.create is not None
    print("ok")
""")


def test_unused_services_load_on_first_use_and_work() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=checkout_env(),
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
