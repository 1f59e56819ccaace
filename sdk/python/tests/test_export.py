"""The glue between componentize-py and a plugin class, with stand-ins for
the generated bindings. Run: python3 -m unittest discover sdk/python/tests"""

import os
import sys
import types as pytypes
import unittest
from dataclasses import dataclass

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import warden  # noqa: E402
from warden import _export, _wit  # noqa: E402


def fake_bindings():
    """Just enough of `wit_world.imports` for the glue."""
    t = pytypes.SimpleNamespace()

    @dataclass
    class PluginError:
        code: str
        message: str

    @dataclass
    class Rejection:
        status: int
        reason: str

    @dataclass
    class Value:
        value: object = None

    t.PluginError, t.Rejection = PluginError, Rejection
    t.HttpResponse = lambda status, headers, body: (status, headers, body)
    for name in ["RequestAction", "ResponseAction"]:
        for case in ["Continue", "Respond", "Reject"]:
            setattr(t, f"{name}_{case}", type(f"{name}_{case}", (Value,), {}))
    for case in ["Healthy", "Degraded", "Unhealthy"]:
        setattr(t, f"HealthStatus_{case}", type(case, (Value,), {}))
    logged = []
    log = pytypes.SimpleNamespace(Level=pytypes.SimpleNamespace(ERROR="error"), log=lambda lvl, msg: logged.append(msg))
    config = pytypes.SimpleNamespace(get_all=lambda: [("from", "host")])
    return t, log, config, logged


class FakeRequest:
    def __init__(self, headers):
        self._headers = headers

    def header(self, name):
        return next((v for k, v in self._headers if k.lower() == name), None)

    def body(self):
        raise _wit.Err(_wit.types.PluginError("body-too-large", "too big"))


class ExportTest(unittest.TestCase):
    def setUp(self):
        self.saved = (_wit.types, _wit.log, _wit.config, list(warden.plugin.__globals__["registered"]))
        _wit.types, _wit.log, _wit.config, self.logged = fake_bindings()
        warden.plugin.__globals__["registered"].clear()
        _export._plugin = None

    def tearDown(self):
        _wit.types, _wit.log, _wit.config, registered = self.saved
        warden.plugin.__globals__["registered"][:] = registered

    def define(self):
        @warden.plugin
        class Demo(warden.Plugin):
            def __init__(self, config):
                if "bad" in config:
                    raise warden.PluginError("bad-config", "config key `bad`")
                self.config = config

            def on_request(self, ctx, req):
                mode = req.header("x-mode")
                if mode == "reject":
                    return warden.reject(403, "no")
                if mode == "crash":
                    return 1 / 0
                if mode == "body":
                    req.body()
                if mode == "wrong":
                    return "yes"
                return None

        _export._class = Demo
        return Demo

    def call(self, mode):
        return _export.HttpFilter().on_request(None, FakeRequest([("x-mode", mode)]))

    def test_actions_and_errors_become_wit_values(self):
        self.define()
        _export.Lifecycle().init([("k", "v")])
        self.assertEqual(dict(_export._plugin.config), {"k": "v"})
        self.assertIsInstance(self.call("none"), _wit.types.RequestAction_Continue)
        self.assertEqual(self.call("reject").value, _wit.types.Rejection(403, "no"))
        with self.assertRaises(_wit.Err) as e:
            self.call("crash")
        self.assertEqual(e.exception.value, _wit.types.PluginError("internal", "ZeroDivisionError: division by zero"))
        self.assertIn("ZeroDivisionError", self.logged[-1])
        with self.assertRaises(_wit.Err) as e:
            self.call("body")
        self.assertEqual(e.exception.value.code, "body-too-large")
        with self.assertRaises(_wit.Err) as e:
            self.call("wrong")
        self.assertEqual(e.exception.value.code, "internal")

    def test_init_errors_and_lazy_init(self):
        self.define()
        with self.assertRaises(_wit.Err) as e:
            _export.Lifecycle().init([("bad", "1")])
        self.assertEqual(e.exception.value, _wit.types.PluginError("bad-config", "config key `bad`"))
        self.assertIsNone(_export._plugin)
        # A hook before init builds the plugin from the host's config.
        self.call("none")
        self.assertEqual(dict(_export._plugin.config), {"from": "host"})
        self.assertIsInstance(_export.Lifecycle().health(), _wit.types.HealthStatus_Healthy)

    def test_load_needs_exactly_one_plugin_and_its_hooks(self):
        sys.modules["empty_module"] = pytypes.ModuleType("empty_module")
        with self.assertRaisesRegex(TypeError, "exactly one class"):
            _export.load("empty_module", ("http-filter",))
        self.define()
        with self.assertRaisesRegex(TypeError, "must define `handle`"):
            _export.load("empty_module", ("http-filter", "handler"))
        _export.load("empty_module", ("http-filter",))

    def test_config_keeps_host_order_and_first_value(self):
        config = warden.Config([("b", "1"), ("a", "2"), ("b", "3")])
        self.assertEqual(list(config.items()), [("b", "1"), ("a", "2")])
        self.assertEqual(config.pairs(), [("b", "1"), ("a", "2"), ("b", "3")])

    def test_respond_encodes_bodies(self):
        self.assertEqual(warden.respond(200, [("a", "b")], "hé").body, "hé".encode())
        r = warden.respond(201, body={"ok": True})
        self.assertEqual((r.headers, r.body), ([("content-type", "application/json")], b'{"ok":true}'))
        with self.assertRaises(ValueError):
            warden.reject(70000, "x")


if __name__ == "__main__":
    unittest.main()
