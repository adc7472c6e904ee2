"""Portcullis Python bootstrap: a Lambda Runtime API (2018-06-01) client for handlers named
`module.function` (or `dir/module.function`), so users need nothing but `python3`.

Written to the state directory by portcullis-functions at start; run as `python3 bootstrap.py`.
"""
import http.client
import importlib
import json
import os
import socket
import sys
import time
import traceback

API = os.environ.get("AWS_LAMBDA_RUNTIME_API", "")
BASE = "/2018-06-01/runtime"
# The path of the gateway's private Unix socket for this instance: the same API without the TCP/IP
# path per message. Removed from the environment before the handler loads, which sees only what
# Lambda sets. TCP remains the fallback.
_local = os.environ.pop("PORTCULLIS_RUNTIME_API_LOCAL", "")
_conn = None


class LocalConnection(http.client.HTTPConnection):
    """HTTP on the local Unix socket; `Host` stays the TCP address."""

    reached = False

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(_local)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.reached = True


def call(method, path, body=None, headers=None):
    """One request on a kept-alive connection, reconnecting once if it went stale (and falling
    back to TCP if the local socket cannot be reached)."""
    global _conn, _local
    for attempt in (0, 1):
        if _conn is None:
            _conn = LocalConnection(API) if _local else http.client.HTTPConnection(API)
        try:
            _conn.request(method, BASE + path, body=body, headers=headers or {})
            res = _conn.getresponse()
            return res.status, res.headers, res.read()
        except (http.client.HTTPException, OSError):
            if isinstance(_conn, LocalConnection) and not _conn.reached:
                _local = ""
            _conn.close()
            _conn = None
            if attempt:
                raise


def user_frames(exc):
    """The frames of `exc` (or of the error it was raised from) in the user's code: the import
    machinery and this bootstrap are left out, and a syntax error gets its own file and line."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    frames = [
        frame
        for frame in traceback.extract_tb(cause.__traceback__)
        if not frame.filename.startswith("<frozen") and os.path.abspath(frame.filename) != os.path.abspath(__file__)
    ]
    # Frames in the function's own directory first: the import machinery above them is noise.
    root = os.path.abspath(os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())) + os.sep
    own = [frame for frame in frames if os.path.abspath(frame.filename).startswith(root)]
    frames = own or frames
    if isinstance(cause, SyntaxError) and cause.filename:
        frames.append(traceback.FrameSummary(cause.filename, cause.lineno or 0, "<module>", line=(cause.text or "").strip()))
    return traceback.format_list(frames)


def error_payload(exc, error_type=None, request_id=None):
    payload = {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": user_frames(exc),
    }
    if request_id:
        payload["requestId"] = request_id
    return payload


def deliver(path, body, headers):
    """Posts a result (response or error) and says so when the Runtime API refuses it. A 404
    means this client and the API disagree on the path, so nothing will ever settle the
    invocation: exit, and the gateway reports a crash at once instead of the caller waiting for
    its timeout. A 400 (the invocation was already settled, e.g. as too large) or 413 is no
    reason to stop."""
    status, _, answer = call("POST", path, body, headers)
    if status == 202:
        return
    print(f"the runtime API refused POST {path}: {status} {answer[:200]!r}", file=sys.stderr)
    if status == 404:
        sys.exit(1)


def post_error(path, exc, error_type=None, request_id=None):
    payload = error_payload(exc, error_type, request_id)
    deliver(
        path,
        json.dumps(payload).encode(),
        {"Content-Type": "application/json", "Lambda-Runtime-Function-Error-Type": payload["errorType"]},
    )


class LambdaContext:
    """The context object handlers receive, with the attributes AWS's runtime provides."""

    def __init__(self, request_id, deadline_ms, arn):
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))


TRACE = "_X_AMZN_TRACE_ID"


def set_trace(trace):
    """Sets `_X_AMZN_TRACE_ID` for the invocation in `os.environ` only, not with putenv(3).

    glibc never frees a `NAME=value` string once set, so writing a new trace header per
    invocation leaked without bound (140 MB per million invocations). Python code sees the
    variable as usual; native getenv(3) and child processes started without `env=` do not (see
    ARCHITECTURE.md#lambda-runtime-api-emulation). Interpreters without `os.environ._data` fall back to the plain write.
    """
    environ = os.environ
    try:
        data, key = environ._data, environ.encodekey(TRACE)
    except AttributeError:
        if trace:
            environ[TRACE] = trace
        else:
            environ.pop(TRACE, None)
        return
    if trace:
        data[key] = environ.encodevalue(trace)
    else:
        data.pop(key, None)


def load_handler():
    spec = os.environ.get("_HANDLER", "")
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError:
        raise HandlerError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': missing module name")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise HandlerError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}") from exc
    except ImportError as exc:
        raise HandlerError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from exc
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise HandlerError("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


class HandlerError(Exception):
    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type


def main():
    root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, root)
    try:
        handler = load_handler()
    except HandlerError as exc:
        post_error("/init/error", exc, exc.error_type)
        print(f"[ERROR] {exc.error_type}: {exc}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # anything the module raised at import time
        post_error("/init/error", exc, "Runtime.ImportModuleError")
        traceback.print_exc()
        sys.exit(1)
    while True:
        try:
            status, headers, body = call("GET", "/invocation/next")
        except OSError:
            sys.exit(0)  # the gateway is gone
        if status != 200:
            sys.exit(1)
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        trace = headers.get("Lambda-Runtime-Trace-Id")
        set_trace(trace)
        context = LambdaContext(
            request_id,
            int(headers.get("Lambda-Runtime-Deadline-Ms", "0")),
            headers.get("Lambda-Runtime-Invoked-Function-Arn"),
        )
        try:
            event = json.loads(body)
            result = handler(event, context)
        except Exception as exc:
            traceback.print_exc()
            post_error(f"/invocation/{request_id}/error", exc, None, request_id)
            continue
        try:
            payload = json.dumps(result).encode()
        except (TypeError, ValueError) as exc:
            post_error(f"/invocation/{request_id}/error", exc, "Runtime.MarshalError", request_id)
            continue
        deliver(f"/invocation/{request_id}/response", payload, {"Content-Type": "application/json"})


if __name__ == "__main__":
    main()
