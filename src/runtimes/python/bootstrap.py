"""
lambkin Python runtime client: the process a Python sandbox runs (`python3 -u bootstrap.py [handler]`).

Talks to the Lambda Runtime API (2018-06-01) at AWS_LAMBDA_RUNTIME_API and behaves as AWS's Python runtime
(aws-lambda-python-runtime-interface-client): handler loading, context object, error documents, init errors,
logging format. Python 3 standard library only.

Environment: AWS_LAMBDA_RUNTIME_API (required), LAMBDA_TASK_ROOT (code dir; put on sys.path and made the cwd),
_HANDLER (or the first argument), AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION,
AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_LAMBDA_LOG_GROUP_NAME, AWS_LAMBDA_LOG_STREAM_NAME; optional
AWS_LAMBDA_LOG_FORMAT (TEXT|JSON), AWS_LAMBDA_LOG_LEVEL.
Exit codes: 1 after an init error, 2 when the Runtime API is unusable.
"""

import decimal
import http.client
import importlib
import json
import logging
import math
import os
import sys
import time
import traceback
from urllib.parse import quote as _url_quote  # already loaded by http.client

ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
XRAY_ERROR_CAUSE_HEADER = "Lambda-Runtime-Function-XRay-Error-Cause"
ERROR_LOG_LINE_TERMINATE = "\r"
ERROR_LOG_IDENT = "\u00a0"  # NO-BREAK SPACE, as AWS indents logged tracebacks
EXIT_RUNTIME_API_FAILURE = 2

LAMBDA_WARNING_UNHANDLED = (
    "LAMBDA_WARNING: Unhandled exception. "
    "The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function change, or can be applied automatically. "
    "To determine if the runtime has been updated, check the runtime version in the INIT_START log entry. "
    "If this error correlates with a change in the runtime version, you may be able to mitigate this error by temporarily rolling back to the previous runtime version. "
    "For more information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r"
)


class FaultException(Exception):
    MARSHAL_ERROR = "Runtime.MarshalError"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, exception_type, msg, trace=None):
        super().__init__(msg)
        self.msg = msg
        self.exception_type = exception_type
        self.trace = trace


# ---------------------------------------------------------------------------------------------- JSON marshalling


class _Encoder(json.JSONEncoder):
    """json with AWS's extras: Decimal as a number, NaN allowed."""

    def default(self, o):
        if isinstance(o, decimal.Decimal):
            if o.is_nan():
                return math.nan
            # Exact decimal text is not expressible through the stdlib encoder; float or int is the closest.
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def to_json(obj):
    return json.dumps(obj, cls=_Encoder, allow_nan=True)


def marshal_response(response):
    if isinstance(response, bytes):
        return response, "application/unknown"
    try:
        return to_json(response).encode("utf-8"), "application/json"
    except Exception as e:
        raise FaultException(
            FaultException.MARSHAL_ERROR, "Unable to marshal response: {}".format(str(e)), None
        )


def unmarshal_request(body, content_type):
    if content_type is not None and content_type != "application/json":
        return body
    try:
        return json.loads(body)
    except Exception as e:
        raise FaultException(
            FaultException.UNMARSHAL_ERROR, "Unable to unmarshal input: {}".format(str(e)), None
        )


# ---------------------------------------------------------------------------------------------- Runtime API client


class LambdaRuntimeClientError(Exception):
    def __init__(self, endpoint, response_code, response_body):
        super().__init__(
            "Request to Lambda Runtime '{}' endpoint failed. Reason: '{}'. Response body: '{}'".format(
                endpoint, response_code, response_body
            )
        )
        self.response_code = response_code


class RuntimeClient(object):
    """One keep-alive connection to the Runtime API; reconnects once if the server dropped it."""

    def __init__(self, address):
        self.address = address
        self.conn = None

    def _request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.address)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                data = response.read()
                return response, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.CannotSendRequest):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise

    def next(self):
        response, body = self._request("GET", "/2018-06-01/runtime/invocation/next")
        if response.status != 200:
            raise LambdaRuntimeClientError("/runtime/invocation/next", response.status, body)
        return body, response.headers

    def post_invocation_result(self, invoke_id, result, content_type):
        return self._request(
            "POST",
            "/2018-06-01/runtime/invocation/{}/response".format(_quote(invoke_id)),
            body=result,
            headers={"Content-Type": content_type},
        )

    def post_invocation_error(self, invoke_id, error_json, error_type, xray_fault):
        headers = {"Content-Type": "application/json", ERROR_TYPE_HEADER: _header_safe(error_type)}
        if xray_fault and len(xray_fault) < 1024 * 1024:
            headers[XRAY_ERROR_CAUSE_HEADER] = _header_safe(xray_fault)
        return self._request(
            "POST",
            "/2018-06-01/runtime/invocation/{}/error".format(_quote(invoke_id)),
            body=error_json.encode("utf-8"),
            headers=headers,
        )

    def post_init_error(self, error_result):
        response, body = self._request(
            "POST",
            "/2018-06-01/runtime/init/error",
            body=to_json(error_result).encode("utf-8"),
            headers={"Content-Type": "application/json", ERROR_TYPE_HEADER: _header_safe(error_result["errorType"])},
        )
        if response.status != 202:
            raise LambdaRuntimeClientError("/runtime/init/error", response.status, body)


def _quote(s):
    return _url_quote(s, safe="")


def _header_safe(value):
    cleaned = "".join(c for c in str(value) if c == "\t" or 0x20 <= ord(c) < 0x7F)
    return cleaned or "Runtime.Unknown"


# ---------------------------------------------------------------------------------------------- context


class CognitoIdentity(object):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id={},cognito_identity_pool_id={}])".format(
            self.cognito_identity_id, self.cognito_identity_pool_id
        )


class Client(object):
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]

    def __repr__(self):
        return "Client([{}])".format(",".join("{}={}".format(k, getattr(self, k)) for k in self.__slots__))


class ClientContext(object):
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return "ClientContext([custom={},env={},client={}])".format(self.custom, self.env, self.client)


def _obj_from_dict(cls, d):
    if d is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, d.get(field, None) if isinstance(d, dict) else None)
    return obj


class LambdaContext(object):
    def __init__(self, invoke_id, client_context, cognito_identity, epoch_deadline_time_in_ms, invoked_function_arn=None, tenant_id=None):
        self.aws_request_id = invoke_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        self.client_context = _obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _obj_from_dict(Client, self.client_context.client)
        self.identity = _obj_from_dict(CognitoIdentity, {})
        if isinstance(cognito_identity, dict):
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")
        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self):
        epoch_now_in_ms = int(time.time() * 1000)
        delta_ms = self._epoch_deadline_time_in_ms - epoch_now_in_ms
        return delta_ms if delta_ms > 0 else 0

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id={},log_group_name={},log_stream_name={},function_name={},"
            "memory_limit_in_mb={},function_version={},invoked_function_arn={},client_context={},identity={},tenant_id={}])"
        ).format(
            self.aws_request_id,
            self.log_group_name,
            self.log_stream_name,
            self.function_name,
            self.memory_limit_in_mb,
            self.function_version,
            self.invoked_function_arn,
            self.client_context,
            self.identity,
            self.tenant_id,
        )


def _parse_json_header(value, name):
    try:
        return json.loads(value)
    except Exception as e:
        raise FaultException(
            FaultException.LAMBDA_CONTEXT_UNMARSHAL_ERROR, "Unable to parse {} JSON: {}".format(name, str(e)), None
        )


# ---------------------------------------------------------------------------------------------- logging

_GLOBAL_AWS_REQUEST_ID = None
_JSON_LOGS = (os.environ.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON"


class Unbuffered(object):
    """Flushes after every write, so output is in the pipe before the runtime posts a result."""

    def __init__(self, stream):
        self.stream = stream

    def __getattr__(self, attr):
        return getattr(self.stream, attr)

    def write(self, msg):
        n = self.stream.write(msg)
        self.stream.flush()
        return n

    def writelines(self, msgs):
        self.stream.writelines(msgs)
        self.stream.flush()


class LambdaLoggerFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _GLOBAL_AWS_REQUEST_ID or ""
        return True


class LambdaLoggerHandler(logging.Handler):
    def emit(self, record):
        try:
            msg = self.format(record)
            # One record, one line for whoever reads stdout line by line (Lambda keeps a record as one event).
            sys.stdout.write(msg.replace("\n", "\r") + "\n")
        except Exception:
            self.handleError(record)


class JsonFormatter(logging.Formatter):
    def format(self, record):
        result = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + ".%03dZ" % record.msecs,
            "level": "WARN" if record.levelname == "WARNING" else ("FATAL" if record.levelname == "CRITICAL" else record.levelname),
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": None,
            "errorType": None,
            "errorMessage": None,
            "requestId": getattr(record, "aws_request_id", None) or None,
            "location": "{}:{}:{}".format(record.pathname, record.funcName, record.lineno),
        }
        if record.exc_info:
            etype, value, tb = record.exc_info
            result["errorType"] = etype.__name__ if etype else None
            result["errorMessage"] = str(value)
            result["stackTrace"] = traceback.format_tb(tb)
        return json.dumps({k: v for k, v in result.items() if v is not None}, default=str)


def _setup_logging():
    logging.Formatter.converter = time.gmtime
    logger = logging.getLogger()
    handler = LambdaLoggerHandler()
    if _JSON_LOGS:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
                "%Y-%m-%dT%H:%M:%S",
            )
        )
    level = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper()
    if level in logging._nameToLevel:
        logger.setLevel(level)
    handler.addFilter(LambdaLoggerFilter())
    logger.addHandler(handler)


def _replace_line_indentation(line, indent_char, new_indent_char):
    n = len(line) - len(line.lstrip(indent_char))
    return new_indent_char * n + line[n:]


def log_error(error_result):
    if _JSON_LOGS:
        doc = dict(error_result)
        doc = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "log_level": "ERROR", **doc}
        sys.stdout.write(to_json(doc) + "\n")
        return
    description = "[ERROR]"
    etype = error_result.get("errorType")
    if etype:
        description += " " + etype
    emsg = error_result.get("errorMessage")
    if emsg:
        if etype:
            description += ":"
        description += " " + emsg
    lines = [description]
    stack_trace = error_result.get("stackTrace")
    if stack_trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack_trace:
            if element == "":
                lines.append("")
            else:
                for trace_line in element.splitlines():
                    lines.append(_replace_line_indentation(trace_line, " ", ERROR_LOG_IDENT))
    sys.stdout.write(ERROR_LOG_LINE_TERMINATE.join(lines).replace("\n", "\r") + "\n")


def _flush_std():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


# ---------------------------------------------------------------------------------------------- handler


def make_error(error_message, error_type, stack_trace, invoke_id=None):
    return {
        "errorMessage": error_message if error_message else "",
        "errorType": error_type if error_type else "",
        "requestId": invoke_id if invoke_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def _user_frames(tb):
    tuples = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i in range(len(tuples)):
        if not tuples[i][0].endswith("/bootstrap.py"):
            return tuples[i:]
    return tuples


def _xray_fault(ex_type, ex_msg, tb_tuples):
    stack = [{"label": t[2], "path": t[0], "line": t[1]} for t in tb_tuples]
    return {
        "working_directory": os.getcwd(),
        "exceptions": [{"message": ex_msg, "type": ex_type, "stack": stack}],
        "paths": sorted(set(t[0] for t in tb_tuples)),
    }


def build_fault_result(exc_info, msg=None):
    etype, value, tb = exc_info
    tuples = _user_frames(tb)
    return make_error(msg if msg else str(value), etype.__name__, traceback.format_list(tuples))


def get_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultException(FaultException.MALFORMED_HANDLER_NAME, "Bad handler '{}': {}".format(handler, str(e)))
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultException(
                FaultException.BUILT_IN_MODULE_CONFLICT,
                "Cannot use built-in module {} as a handler module".format(modname),
            )
        m = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise FaultException(
            FaultException.IMPORT_MODULE_ERROR, "Unable to import module '{}': {}".format(modname, str(e))
        )
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise FaultException(
            FaultException.USER_CODE_SYNTAX_ERROR, "Syntax error in module '{}': {}".format(modname, str(e)), trace
        )
    try:
        return getattr(m, fname)
    except AttributeError:
        raise FaultException(
            FaultException.HANDLER_NOT_FOUND, "Handler '{}' missing on module '{}'".format(fname, modname), None
        )


def handle_event_request(client, request_handler, invoke_id, body, headers):
    error_result = None
    xray_fault = None
    try:
        client_context = None
        cc = headers.get("Lambda-Runtime-Client-Context")
        if cc:
            client_context = _parse_json_header(cc, "Client Context")
        cognito_identity = None
        ci = headers.get("Lambda-Runtime-Cognito-Identity")
        if ci:
            cognito_identity = _parse_json_header(ci, "Cognito Identity")
        context = LambdaContext(
            invoke_id,
            client_context,
            cognito_identity,
            int(headers.get("Lambda-Runtime-Deadline-Ms") or 0),
            headers.get("Lambda-Runtime-Invoked-Function-Arn"),
            headers.get("Lambda-Runtime-Aws-Tenant-Id"),
        )
        event = unmarshal_request(body, headers.get("Content-Type"))
        response = request_handler(event, context)
        result, content_type = marshal_response(response)
    except FaultException as e:
        xray_fault = _xray_fault("LambdaValidationError", e.msg, [])
        error_result = make_error(e.msg, e.exception_type, e.trace, invoke_id)
    except Exception:
        etype, value, tb = sys.exc_info()
        tuples = _user_frames(tb)
        xray_fault = _xray_fault(etype.__name__, str(value), tuples)
        error_result = make_error(str(value), etype.__name__, traceback.format_list(tuples), invoke_id)

    if error_result is not None:
        log_error(error_result)
        _flush_std()
        client.post_invocation_error(invoke_id, to_json(error_result), error_result["errorType"], to_json(xray_fault))
    else:
        _flush_std()
        client.post_invocation_result(invoke_id, result, content_type)


def _fatal(message, exc):
    sys.stderr.write("lambkin python runtime: {}: {}\n".format(message, exc))
    sys.stderr.flush()
    os._exit(EXIT_RUNTIME_API_FAILURE)


def main():
    global _GLOBAL_AWS_REQUEST_ID
    sys.stdout = Unbuffered(sys.stdout)
    sys.stderr = Unbuffered(sys.stderr)

    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        _fatal("startup", "AWS_LAMBDA_RUNTIME_API is not set")
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    handler = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("_HANDLER", "")
    # The runtime's own directory must not shadow user modules (a user "bootstrap.py" or "logging" helper).
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    if task_root not in sys.path:
        sys.path.insert(0, task_root)
    try:
        # Lambda runs the function with the task root as working directory.
        os.chdir(task_root)
    except OSError:
        pass

    client = RuntimeClient(address)
    error_result = None
    try:
        _setup_logging()
        request_handler = get_handler(handler)
    except FaultException as e:
        error_result = make_error(e.msg, e.exception_type, e.trace)
    except Exception:
        error_result = build_fault_result(sys.exc_info())
    if error_result is not None:
        logging.warning(LAMBDA_WARNING_UNHANDLED)
        log_error(error_result)
        _flush_std()
        try:
            client.post_init_error(error_result)
        except Exception as e:
            _fatal("posting the init error failed", e)
        sys.exit(1)

    while True:
        try:
            body, headers = client.next()
        except Exception as e:
            _fatal("waiting for the next invocation failed", e)
        invoke_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        if not invoke_id:
            _fatal("invocation without Lambda-Runtime-Aws-Request-Id", dict(headers))
        _GLOBAL_AWS_REQUEST_ID = invoke_id
        trace_id = headers.get("Lambda-Runtime-Trace-Id")
        if trace_id is not None:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        elif "_X_AMZN_TRACE_ID" in os.environ:
            del os.environ["_X_AMZN_TRACE_ID"]
        try:
            handle_event_request(client, request_handler, invoke_id, body, headers)
        except (OSError, http.client.HTTPException) as e:
            _fatal("posting the result failed", e)


if __name__ == "__main__":
    main()
